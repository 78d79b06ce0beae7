"""Select the last time step of a sequence."""
import keras


@keras.saving.register_keras_serializable(package="seqline")
class LastStep(keras.layers.Layer):
    """``[batch, steps, d]`` -> ``[batch, d]``: the output at the final step.

    Example:
        >>> LastStep()(keras.ops.ones((2, 5, 3))).shape
        (2, 3)
    """

    def call(self, inputs):
        return inputs[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
