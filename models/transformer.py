"""Transformer encoder: input projection, positional encoding, N blocks."""
import keras

from seqline.models.last_step import LastStep
from seqline.models.positional_encoding import PositionalEncoding
from seqline.models.transformer_block import TransformerBlock


def transformer_encoder(x, units: int, layers: int, heads: int, ff_units: int,
                        dropout: float = 0.0, return_sequences: bool = False,
                        causal: bool = True):
    """Encode ``[batch, steps, features]``; ``units`` is the model width.

    ``causal`` lets step t attend only to steps <= t; otherwise every step sees the whole
    sequence. A padding mask on ``x`` keeps padded steps out of every attention and pooling.
    Without ``return_sequences`` the output summarizes the sequence: the last valid step's
    encoding when causal (the only step that has seen all others), else the mean over the
    valid steps.

    Example:
        >>> inputs = keras.Input((30, 1))
        >>> transformer_encoder(inputs, units=16, layers=1, heads=2, ff_units=32).shape
        (None, 16)
    """
    x = keras.layers.Dense(units, name="input_projection")(x)
    x = PositionalEncoding(name="positional_encoding")(x)
    for i in range(layers):
        x = TransformerBlock(units, heads, ff_units, dropout, causal=causal, name=f"block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    if return_sequences:
        return x
    if causal:
        return LastStep(name="last_step")(x)
    return keras.layers.GlobalAveragePooling1D(name="mean_over_steps")(x)
