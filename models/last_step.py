"""Select the last (valid) time step of a sequence."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqline")
class LastStep(keras.layers.Layer):
    """``[batch, steps, d]`` -> ``[batch, d]``: the output at the final step, or with a padding
    mask at the last unmasked step (so padding after a sequence does not change it).

    Example:
        >>> LastStep()(keras.ops.ones((2, 5, 3))).shape
        (2, 3)
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs[:, -1, :]
        steps = ops.shape(inputs)[1]
        index = ops.max(ops.where(mask, ops.arange(steps)[None, :], -1), axis=1)
        pick = ops.one_hot(ops.maximum(index, 0), steps, dtype=inputs.dtype)
        return ops.sum(inputs * pick[:, :, None], axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
