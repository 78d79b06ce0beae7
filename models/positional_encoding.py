"""Sinusoidal positional encoding, added to a sequence of embeddings."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqline")
class PositionalEncoding(keras.layers.Layer):
    """Adds the fixed sin/cos encoding of Vaswani et al. (2017) to ``[batch, steps, d]`` inputs.

    Positions count from the first step, so padding after a sequence does not move them.

    Example:
        >>> x = keras.random.normal((2, 10, 16))
        >>> PositionalEncoding()(x).shape
        (2, 10, 16)
    """

    def __init__(self, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        if max_wavelength <= 0:
            raise ValueError(f"max_wavelength must be positive, got {max_wavelength}")
        self.max_wavelength = max_wavelength
        self.supports_masking = True

    def call(self, inputs):
        steps, depth = ops.shape(inputs)[1], ops.shape(inputs)[2]
        position = ops.cast(ops.arange(steps), self.compute_dtype)[:, None]
        index = ops.cast(ops.arange(depth), self.compute_dtype)[None, :]
        rate = ops.power(self.max_wavelength, -2.0 * ops.floor(index / 2.0) / ops.cast(depth, self.compute_dtype))
        angle = position * rate
        even = ops.cast(ops.equal(ops.mod(ops.arange(depth), 2), 0), self.compute_dtype)[None, :]
        encoding = even * ops.sin(angle) + (1.0 - even) * ops.cos(angle)
        return inputs + ops.cast(encoding, inputs.dtype)[None, :, :]

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}
