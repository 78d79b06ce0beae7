"""Training on several workers with ``tf.distribute.MultiWorkerMirroredStrategy`` (TensorFlow
backend). The cluster comes from ``TF_CONFIG`` (:mod:`seqline.pipeline.distribution`).

Keras 3.15's ``fit`` does not run under this strategy as shipped (keras-team/keras#20585): it
takes its first batch from the distributed dataset to build the model and gets a ``PerReplica``
value, and it reduces the per-step logs (scalars) along axis 0. :func:`prepare` works around
both: the model is built from a local batch, and the logs, which the strategy has already
all-reduced, are reduced as under ``MirroredStrategy``.
"""
from __future__ import annotations

from seqline.pipeline.errors import ConfigError


def strategy(workers: int):
    """The strategy for a cluster of ``workers``, or None for one. Create it before any other
    TensorFlow op, as the strategy requires."""
    if workers == 1:
        return None
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(f"multi-worker training (TF_CONFIG) needs the TensorFlow backend, not "
                          f"{keras.backend.backend()}")
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def prepare(model, strategy, local_batches) -> None:
    """Apply the two workarounds to a compiled ``model`` (see the module docstring)."""
    import keras.src.backend.tensorflow.trainer as tf_trainer

    x, y = next(iter(local_batches))
    with strategy.scope():
        model._symbolic_build(data_batch=(x, y))
    model._maybe_symbolic_build = lambda *args, **kwargs: None
    tf_trainer._collective_all_reduce_multi_worker = lambda _strategy: False


def shard_by_data(dataset):
    """Each worker takes its share of the batches (a split may be a single file)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
