"""Task heads: the output layers that turn an encoding into the task's prediction.

Two kinds: a whole-sequence head reads one vector per sequence (``[batch, d]``: the encoder's
summary of the sequence), a per-step head reads one vector per step (``[batch, steps, d]``) and
predicts at every step. ``HEADS`` maps each task to its head and says which kind it is; the
registry asks the encoder for a summary or for every step accordingly.
"""
from typing import Callable, NamedTuple

import keras


class Head(NamedTuple):
    """A head builder ``build(x, outputs)`` and whether it predicts at every step."""

    build: Callable
    per_step: bool


def _check_outputs(outputs: int, minimum: int = 1) -> None:
    if outputs < minimum:
        raise ValueError(f"outputs must be >= {minimum}, got {outputs}")


def regression_head(x, outputs: int):
    """Linear outputs, e.g. the next ``outputs`` values of a forecast. The kernel starts at
    zero, so an untrained model outputs 0: a window-relative forecaster then forecasts its base
    (naive or seasonal-naive) exactly, and training learns the correction.

    Example:
        >>> regression_head(keras.Input((8,)), 3).shape
        (None, 3)
    """
    _check_outputs(outputs)
    return keras.layers.Dense(outputs, kernel_initializer="zeros", name="forecast")(x)


def next_token_head(x, vocab_size: int):
    """A softmax over the vocabulary at every step: ``[batch, steps, d]`` -> ``[batch, steps, V]``.

    Example:
        >>> next_token_head(keras.Input((5, 8)), 30).shape
        (None, 5, 30)
    """
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    return keras.layers.Dense(vocab_size, activation="softmax", name="next_token")(x)


def classification_head(x, outputs: int):
    """Class probabilities for the whole sequence from its summary ``[batch, d]``.

    Example:
        >>> classification_head(keras.Input((8,)), 4).shape
        (None, 4)
    """
    _check_outputs(outputs, 2)
    return keras.layers.Dense(outputs, activation="softmax", dtype="float32",
                              name="probabilities")(x)


def step_classification_head(x, outputs: int):
    """Class probabilities at every step from ``[batch, steps, d]``; a padding mask passes
    through, so the loss and metrics skip padded steps.

    Example:
        >>> step_classification_head(keras.Input((10, 8)), 3).shape
        (None, 10, 3)
    """
    _check_outputs(outputs, 2)
    return keras.layers.Dense(outputs, activation="softmax", dtype="float32",
                              name="step_probabilities")(x)


HEADS = {
    "forecast": Head(regression_head, per_step=False),
    "classify": Head(classification_head, per_step=False),
    "label": Head(step_classification_head, per_step=True),
}
