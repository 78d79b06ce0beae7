"""The pinball (quantile) loss of a forecaster that outputs several quantiles per step."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqline")
class PinballLoss(keras.losses.Loss):
    """Mean pinball loss over steps and ``quantiles``: ``y_true`` is ``[batch, H]``, ``y_pred``
    ``[batch, H * Q]`` step-major (output ``h * Q + q`` is step ``h``'s quantile ``q``). For the
    level 0.5 alone it is half the mean absolute error.

    Example:
        >>> loss = PinballLoss([0.1, 0.5, 0.9])
        >>> float(loss(ops.zeros((1, 1)), ops.convert_to_tensor([[-1.0, 0.0, 1.0]])))
        0.0666...
    """

    def __init__(self, quantiles, name: str = "pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true, y_pred):
        levels = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        pred = ops.reshape(y_pred, (-1, ops.shape(y_true)[-1], len(self.quantiles)))
        error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - pred
        return ops.mean(ops.maximum(levels * error, (levels - 1.0) * error), axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}
