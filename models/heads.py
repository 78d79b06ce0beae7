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


HEADS = {"forecast": regression_head}
