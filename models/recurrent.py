"""Stacked recurrent encoders: SimpleRNN, LSTM or GRU, optionally bidirectional."""
import keras

RECURRENT_LAYERS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                    "gru": keras.layers.GRU}


def recurrent_encoder(x, kind: str, units: int, layers: int, dropout: float = 0.0,
                      return_sequences: bool = False, bidirectional: bool = False, mask=None):
    """Apply ``layers`` recurrent layers of type ``kind`` to the functional tensor ``x``.

    Dropout is applied between layers (not recurrent dropout, which would disable cuDNN).
    ``bidirectional`` concatenates a forward and a backward pass (``2 * units`` outputs);
    ``mask`` (``[batch, steps]`` booleans) marks the valid steps of padded sequences.

    Example:
        >>> inputs = keras.Input((30, 1))
        >>> recurrent_encoder(inputs, "gru", units=8, layers=2).shape
        (None, 8)
        >>> recurrent_encoder(inputs, "lstm", units=8, layers=1, bidirectional=True).shape
        (None, 16)
    """
    if kind not in RECURRENT_LAYERS:
        raise ValueError(f"kind must be one of {sorted(RECURRENT_LAYERS)}, got {kind!r}")
    layer = RECURRENT_LAYERS[kind]
    for i in range(layers):
        last = i == layers - 1
        rnn = layer(units, return_sequences=return_sequences or not last, name=f"{kind}_{i}")
        if bidirectional:
            rnn = keras.layers.Bidirectional(rnn, name=f"bi{kind}_{i}")
        x = rnn(x) if mask is None else rnn(x, mask=mask)
        if dropout and not last:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout_out")(x)
    return x
