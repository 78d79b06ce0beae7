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
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=heads, key_dim=max(1, d_model // heads), dropout=dropout)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.ff1 = keras.layers.Dense(ff_units, activation="gelu")
        self.ff2 = keras.layers.Dense(d_model)
        self.drop = keras.layers.Dropout(dropout)
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
        return {**super().get_config(), "d_model": self.d_model, "heads": self.heads,
                "ff_units": self.ff_units, "dropout": self.dropout, "causal": self.causal}
