"""Causal Transformer encoder: input projection, positional encoding, N blocks."""
import keras

from models.last_step import LastStep
from models.positional_encoding import PositionalEncoding
from models.transformer_block import TransformerBlock


def transformer_encoder(x, units: int, layers: int, heads: int, ff_units: int,
                        dropout: float = 0.0, return_sequences: bool = False):
    """Encode ``[batch, steps, features]``; ``units`` is the model width.

    Example:
        >>> inputs = keras.Input((30, 1))
        >>> transformer_encoder(inputs, units=16, layers=1, heads=2, ff_units=32).shape
        (None, 16)
    """
    x = keras.layers.Dense(units, name="input_projection")(x)
    x = PositionalEncoding(name="positional_encoding")(x)
    for i in range(layers):
        x = TransformerBlock(units, heads, ff_units, dropout, causal=True, name=f"block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    return x if return_sequences else LastStep(name="last_step")(x)
