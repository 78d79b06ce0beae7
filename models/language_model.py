"""Token-level language model: embedding, causal encoder over every step, next-token softmax."""
import keras

from seqline.models.heads import next_token_head
from seqline.models.registry import encoder


def build_language_model(model_cfg: dict, vocab_size: int, name: str = "seqline") -> keras.Model:
    """An uncompiled model from token ids ``[batch, steps]`` (any number of steps) to next-token
    probabilities ``[batch, steps, vocab_size]``.

    Recurrent encoders are causal by construction and the Transformer's attention is causal, so the
    prediction at step t depends on tokens ``<= t`` only.

    Example:
        >>> cfg = {"type": "gru", "units": 8, "layers": 1}
        >>> build_language_model(cfg, vocab_size=40).output_shape
        (None, None, 40)
    """
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    inputs = keras.Input(shape=(None,), dtype="int32", name="x")
    x = keras.layers.Embedding(vocab_size, model_cfg["units"], name="embedding")(inputs)
    return keras.Model(inputs, next_token_head(encoder(x, model_cfg, return_sequences=True),
                                               vocab_size), name=name)
