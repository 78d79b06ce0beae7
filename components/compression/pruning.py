"""Magnitude pruning and weight clustering with TFMOT, on the model's ``tf_keras`` twin.

:func:`prune` wraps every layer TFMOT can prune (recurrent, Dense, MultiHeadAttention kernels)
in ``prune_low_magnitude`` with a polynomial-decay schedule from 0 to the target sparsity over the
first 70% of a short fine-tune on the train split, then keeps the sparsity fixed for the rest;
``strip_pruning`` removes the wrappers. :func:`cluster` then shares each kernel's values among
``clusters`` centroids (sparsity preserved) with one more epoch at a tenth of the learning rate.
Both return a Keras 3 copy of the model holding the new weights, ready for export or conversion.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqline.components.compression.keras_twin import Twin, copy_weights_back, twin_of

PRUNE_FRACTION = 0.7   # of the fine-tune steps spent increasing the sparsity
UPDATES = 10           # sparsity updates during that time


@dataclass
class FineTune:
    """Training settings of the fine-tune: the task's loss (a Keras loss name), data, optimizer."""

    x: np.ndarray
    y: np.ndarray
    loss: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


def _wrap_each(model, wrap):
    """A model on the same layers as ``model`` with ``wrap`` applied to every layer with weights
    that TFMOT accepts (the others are shared as they are); return ``(model, wrapped names)``."""
    import tf_keras

    wrapped = []

    def clone(layer):
        if not layer.weights:
            return layer
        try:
            new = wrap(layer)
        except ValueError:   # TFMOT: this layer type is not supported
            return layer
        wrapped.append(layer.name)
        return new

    return tf_keras.models.clone_model(model, clone_function=clone), wrapped


def _fit(model, tune: FineTune, epochs: int, learning_rate: float, callbacks=()) -> None:
    import tf_keras

    tf_keras.utils.set_random_seed(tune.seed)
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss=tune.loss)
    model.fit(tune.x, tune.y, batch_size=tune.batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=list(callbacks))


def _back_to_keras3(keras_model, twin: Twin, tf_keras_model):
    import keras

    copy = keras.models.clone_model(keras_model)
    copy.set_weights(keras_model.get_weights())
    copy_weights_back(tf_keras_model, twin, copy)
    return copy


def kernel_sparsity(model, names: list) -> float:
    """Fraction of zeros among the kernels (not the biases) of the layers ``names``."""
    kernels = [w.numpy() for name in names for w in model.get_layer(name).weights if "kernel" in w.name]
    total = sum(w.size for w in kernels)
    return float(sum((w == 0).sum() for w in kernels) / total) if total else 0.0


def prune(keras_model, tune: FineTune, target_sparsity: float) -> tuple:
    """Prune to ``target_sparsity`` with a fine-tune; return ``(keras 3 model, pruned tf_keras
    model, its twin, report)``, the report holding the pruned layers and measured sparsity."""
    import tensorflow_model_optimization as tfmot

    if not 0.0 < target_sparsity < 1.0:
        raise ValueError(f"target_sparsity must be in (0, 1), got {target_sparsity}")
    twin, _ = twin_of(keras_model, tune.x[:32], batch_size=None)
    steps = int(np.ceil(len(tune.x) / tune.batch_size)) * tune.epochs
    frequency = max(1, int(steps * PRUNE_FRACTION) // UPDATES)
    end_step = max(1, min(frequency * UPDATES, steps - 1))   # the last update reaches the target
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=target_sparsity, begin_step=0,
        end_step=end_step, frequency=frequency)
    wrapped_model, names = _wrap_each(
        twin.model, lambda layer: tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule))
    if not names:
        raise ValueError("no layer of this model can be pruned by TFMOT")
    _fit(wrapped_model, tune, tune.epochs, tune.learning_rate,
         [tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped_model)
    report = {"pruned_layers": names, "sparsity": kernel_sparsity(stripped, names),
              "target_sparsity": target_sparsity, "fine_tune_steps": steps}
    return _back_to_keras3(keras_model, twin, stripped), stripped, twin, report


def cluster(keras_model, pruned, twin: Twin, tune: FineTune, clusters: int) -> tuple:
    """Cluster the pruned ``tf_keras`` model's kernels into ``clusters`` centroids (zeros kept)
    with one epoch of fine-tune; return ``(keras 3 model, report)``."""
    import tensorflow_model_optimization as tfmot

    if clusters < 2:
        raise ValueError(f"clusters must be >= 2, got {clusters}")
    ck = tfmot.clustering.keras
    clustered, names = _wrap_each(pruned, lambda layer: ck.cluster_weights(
        layer, number_of_clusters=clusters, preserve_sparsity=True,
        cluster_centroids_init=ck.CentroidInitialization.LINEAR))
    if not names:
        raise ValueError("no layer of this model can be clustered by TFMOT")
    _fit(clustered, tune, 1, tune.learning_rate / 10)
    stripped = ck.strip_clustering(clustered)
    report = {"clustered_layers": names, "clusters": clusters,
              "sparsity": kernel_sparsity(stripped, names)}
    return _back_to_keras3(keras_model, twin, stripped), report
