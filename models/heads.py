"""Task heads: the output layers that turn an encoding into the task's prediction."""
import keras


def regression_head(x, outputs: int):
    """Linear outputs, e.g. the next ``outputs`` values of a forecast.

    Example:
        >>> regression_head(keras.Input((8,)), 3).shape
        (None, 3)
    """
    if outputs < 1:
        raise ValueError(f"outputs must be >= 1, got {outputs}")
    return keras.layers.Dense(outputs, name="forecast")(x)


def next_token_head(x, vocab_size: int):
    """A softmax over the vocabulary at every step: ``[batch, steps, d]`` -> ``[batch, steps, V]``.

    Example:
        >>> next_token_head(keras.Input((5, 8)), 30).shape
        (None, 5, 30)
    """
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    return keras.layers.Dense(vocab_size, activation="softmax", name="next_token")(x)


HEADS = {"forecast": regression_head}
