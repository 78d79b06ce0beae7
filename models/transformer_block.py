"""One pre-norm Transformer encoder block with optional causal self-attention."""
import keras


@keras.saving.register_keras_serializable(package="seqline")
class TransformerBlock(keras.layers.Layer):
    """Self-attention + feed-forward, each with a residual connection and layer norm first.

    With ``causal=True`` step t attends only to steps <= t, so a forecast never sees the future.

    Example:
        >>> block = TransformerBlock(d_model=16, heads=2, ff_units=32)
        >>> block(keras.random.normal((2, 10, 16))).shape
        (2, 10, 16)
    """

    def __init__(self, d_model: int, heads: int, ff_units: int, dropout: float = 0.0,
                 causal: bool = True, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("d_model", d_model), ("heads", heads), ("ff_units", ff_units)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.d_model, self.heads, self.ff_units = d_model, heads, ff_units
        self.dropout, self.causal = dropout, causal
        # Sub-layers take the block's dtype policy, so a float16 block or a quantized one
        # (``model.quantize``: a policy map keyed by these names) saves and loads as such.
        sub = {"dtype": self.dtype_policy}
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1", **sub)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=heads, key_dim=max(1, d_model // heads), dropout=dropout, name="attention",
            **sub)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2", **sub)
        self.ff1 = keras.layers.Dense(ff_units, activation="gelu", name="ff1", **sub)
        self.ff2 = keras.layers.Dense(d_model, name="ff2", **sub)
        self.drop = keras.layers.Dropout(dropout, name="drop", **sub)
        self.supports_masking = True

    def build(self, input_shape):
        self.norm1.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm2.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2.build(tuple(input_shape[:-1]) + (self.ff_units,))

    def call(self, inputs, training=False, mask=None):
        h = self.norm1(inputs)
        attention_mask = None
        if mask is not None:
            attention_mask = keras.ops.logical_and(mask[:, None, :], mask[:, :, None])
        h = self.attention(h, h, attention_mask=attention_mask, use_causal_mask=self.causal,
                           training=training)
        x = inputs + self.drop(h, training=training)
        h = self.ff2(self.ff1(self.norm2(x)))
        return x + self.drop(h, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {**super().get_config(), "d_model": self.d_model, "heads": self.heads,
                  "ff_units": self.ff_units, "dropout": self.dropout, "causal": self.causal}
        quantized = keras.dtype_policies.DTypePolicyMap(default_policy=self.dtype_policy)
        for layer in self._flatten_layers(include_self=False):
            if layer.dtype_policy.quantization_mode is not None:
                quantized[layer.path] = layer.dtype_policy
        if len(quantized):   # after model.quantize(): which sub-layers hold quantized weights
            config["dtype"] = quantized
        return config
