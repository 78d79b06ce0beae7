"""The ``tf_keras`` twin of a trained Keras 3 model: same architecture, same weights.

TFLite fuses only a ``tf_keras`` LSTM into its ``UNIDIRECTIONAL_SEQUENCE_LSTM`` kernel (a Keras 3
LSTM becomes a ``WHILE`` loop), and TFMOT prunes and clusters only ``tf_keras`` models. The twin is
rebuilt from the Keras 3 model's config, layer by layer, for models that are a chain of:
``SimpleRNN`` / ``LSTM`` / ``GRU`` (also inside ``Bidirectional``), ``Dense``, ``Dropout``,
``LayerNormalization``, ``GlobalAveragePooling1D`` and seqline's ``PositionalEncoding``,
``TransformerBlock`` (expanded into standard ``tf_keras`` layers, so TFMOT can prune its attention
and feed-forward kernels) and ``LastStep``. A ``Masking`` layer (the padding mask of the
classification tasks) is left out: TFLite's fused LSTM kernel takes no mask, so the twin reads
every step, padded or not, and is checked on rows without padding (:func:`check_rows`). Anything
else raises :class:`TwinError` with the layer's name.

Example:
    >>> twin = build_twin(model, batch_size=1)         # fixed batch: the fused LSTM op needs it
    >>> copy_weights(model, twin)
    >>> check_twin(model, twin, x_test[:32])            # max |difference|, raises above 1e-5
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RECURRENT = ("SimpleRNN", "LSTM", "GRU")
MASK_OPS = ("NotEqual", "Any")   # how a Keras 3 functional model saves a Masking layer's mask
TOLERANCE = 1e-5


class TwinError(ValueError):
    """The model cannot be rebuilt with ``tf_keras``, or the rebuilt model does not match."""


@dataclass
class Twin:
    """A ``tf_keras`` model and how its weights map to the Keras 3 model's.

    ``pairs`` lists ``(keras 3 layer name, sub-layer attribute or None, twin layer name)``; each
    pair's ``get_weights()`` lists correspond one to one.
    """

    model: object
    pairs: list = field(default_factory=list)


def _k3_layer(model, name: str, attr: str | None):
    layer = model.get_layer(name)
    return getattr(layer, attr) if attr else layer


def copy_weights(keras_model, twin: Twin) -> None:
    """Keras 3 weights -> twin."""
    for name, attr, twin_name in twin.pairs:
        twin.model.get_layer(twin_name).set_weights(_k3_layer(keras_model, name, attr).get_weights())


def copy_weights_back(twin_model, twin: Twin, keras_model) -> None:
    """Weights of ``twin_model`` (the twin or a TFMOT-stripped clone of it, same layer names)
    -> ``keras_model``."""
    for name, attr, twin_name in twin.pairs:
        _k3_layer(keras_model, name, attr).set_weights(twin_model.get_layer(twin_name).get_weights())


def check_twin(keras_model, twin: Twin, x: np.ndarray, tolerance: float = TOLERANCE) -> float:
    """The largest absolute difference between both models' outputs on ``x``; raises
    :class:`TwinError` above ``tolerance``. Runs the twin one row at a time when its batch is fixed."""
    expected = np.asarray(keras_model.predict(x, batch_size=256, verbose=0), np.float64)
    batch = twin.model.inputs[0].shape[0]
    if batch is None:
        got = twin.model(x, training=False).numpy()
    else:
        got = np.concatenate([twin.model(x[i:i + batch], training=False).numpy()
                              for i in range(0, len(x) - len(x) % batch, batch)])
        expected = expected[:len(got)]
    diff = float(np.max(np.abs(got - expected))) if len(got) else 0.0
    if not diff <= tolerance:
        raise TwinError(f"the tf_keras twin differs from the model by {diff:.2e} (> {tolerance:g})")
    return diff


def has_padding_mask(keras_model) -> bool:
    """Whether the model masks padded steps (a ``Masking`` layer, which the twin leaves out)."""
    return any(layer["class_name"] == "Masking" for layer in keras_model.get_config()["layers"])


def check_rows(keras_model, x: np.ndarray) -> np.ndarray:
    """The rows of ``x`` the twin must reproduce: all of them, or for a model with a padding mask
    those without a padded step (one whose features are all 0)."""
    if not has_padding_mask(keras_model):
        return x
    rows = x[np.any(x != 0.0, axis=-1).all(axis=-1)]
    if not len(rows):
        raise TwinError("every row has padded steps: the tf_keras twin (no padding mask) cannot be "
                        "checked against the model")
    return rows


def _chain(keras_model) -> list:
    """The model's layer configs, checking that each layer feeds only the next one (a
    ``Sequential`` model is a chain by construction)."""
    import keras

    layers = keras_model.get_config()["layers"]
    if isinstance(keras_model, keras.Sequential):
        return layers
    if has_padding_mask(keras_model):   # the mask's own ops; the chain check below still fails
        layers = [c for c in layers if c["class_name"] not in MASK_OPS]   # if a layer reads them
    for previous, layer in zip(layers, layers[1:]):
        nodes = layer.get("inbound_nodes") or []
        args = nodes[0]["args"] if len(nodes) == 1 else []
        history = args[0].get("config", {}).get("keras_history", [None]) if len(args) == 1 else [None]
        if history[0] != previous["config"]["name"]:
            raise TwinError(f"layer '{layer['config']['name']}': only a chain of layers can be "
                            "rebuilt with tf_keras")
    return layers


def _recurrent(tfk, config: dict, unroll: bool):
    kind = config["class_name"]
    if kind not in RECURRENT:
        raise TwinError(f"layer '{config['config']['name']}': no tf_keras twin for {kind}")
    c = config["config"]
    if c.get("stateful") or c.get("return_state"):
        raise TwinError(f"layer '{c['name']}': stateful or return_state recurrent layers are not "
                        "supported")
    kwargs = {key: c[key] for key in ("units", "activation", "use_bias", "return_sequences",
                                      "go_backwards", "dropout", "recurrent_dropout") if key in c}
    if kind != "SimpleRNN":
        kwargs["recurrent_activation"] = c["recurrent_activation"]
    if kind == "GRU":
        kwargs["reset_after"] = c.get("reset_after", True)
    return getattr(tfk.layers, kind)(unroll=unroll, name=c["name"], **kwargs)


def _positional_encoding(tfk):
    class PositionalEncoding(tfk.layers.Layer):
        """seqline's sinusoidal encoding (models/positional_encoding.py), as a constant."""

        def __init__(self, max_wavelength=10000.0, **kwargs):
            super().__init__(**kwargs)
            self.max_wavelength = max_wavelength

        def build(self, input_shape):
            steps, depth = int(input_shape[1]), int(input_shape[2])
            position = np.arange(steps, dtype=np.float64)[:, None]
            index = np.arange(depth, dtype=np.float64)[None, :]
            angle = position * self.max_wavelength ** (-2.0 * np.floor(index / 2.0) / depth)
            even = (np.arange(depth) % 2 == 0)[None, :]
            self.encoding = np.where(even, np.sin(angle), np.cos(angle)).astype(np.float32)[None]

        def call(self, inputs):
            return inputs + self.encoding

        def get_config(self):
            return {**super().get_config(), "max_wavelength": self.max_wavelength}

    return PositionalEncoding


def _last_step(tfk):
    class LastStep(tfk.layers.Layer):
        """``[batch, steps, d]`` -> ``[batch, d]``."""

        def call(self, inputs):
            return inputs[:, -1, :]

    return LastStep


def _transformer_block(tfk, block, x, pairs: list):
    """Expand seqline's TransformerBlock into standard layers (same math, prunable kernels)."""
    name, L = block.name, tfk.layers
    norm1 = L.LayerNormalization(epsilon=block.norm1.epsilon, name=f"{name}_norm1")
    attention = L.MultiHeadAttention(num_heads=block.heads, key_dim=max(1, block.d_model // block.heads),
                                     dropout=block.dropout, name=f"{name}_attention")
    norm2 = L.LayerNormalization(epsilon=block.norm2.epsilon, name=f"{name}_norm2")
    ff1 = L.Dense(block.ff_units, activation="gelu", name=f"{name}_ff1")
    ff2 = L.Dense(block.d_model, name=f"{name}_ff2")
    h = norm1(x)
    h = attention(h, h, use_causal_mask=block.causal)
    x = L.Add(name=f"{name}_add1")([x, L.Dropout(block.dropout, name=f"{name}_drop1")(h)])
    h = ff2(ff1(norm2(x)))
    x = L.Add(name=f"{name}_add2")([x, L.Dropout(block.dropout, name=f"{name}_drop2")(h)])
    pairs += [(name, attr, layer.name) for attr, layer in
              (("norm1", norm1), ("attention", attention), ("norm2", norm2), ("ff1", ff1), ("ff2", ff2))]
    return x


def build_twin(keras_model, batch_size: int | None = 1, unroll: bool = False) -> Twin:
    """A ``tf_keras`` model with ``keras_model``'s architecture (weights not copied yet).

    ``batch_size=1`` gives the fixed batch-1 signature TFLite needs to fuse LSTMs; ``None`` a
    dynamic batch for training (the pruning fine-tune). ``unroll`` unrolls recurrent layers.
    """
    import tf_keras as tfk

    layers = _chain(keras_model)
    if layers[0]["class_name"] != "InputLayer" or len(keras_model.inputs) != 1:
        raise TwinError("only models with one input can be rebuilt with tf_keras")
    inputs = tfk.Input(tuple(keras_model.inputs[0].shape[1:]), batch_size=batch_size,
                       name=layers[0]["config"]["name"])
    x, pairs = inputs, []
    for config in layers[1:]:
        kind, c, name = config["class_name"], config["config"], config["config"]["name"]
        layer = keras_model.get_layer(name)
        if kind in RECURRENT:
            new = _recurrent(tfk, config, unroll)
        elif kind == "Bidirectional":
            new = tfk.layers.Bidirectional(_recurrent(tfk, c["layer"], unroll),
                                           backward_layer=_recurrent(tfk, c["backward_layer"], unroll),
                                           merge_mode=c["merge_mode"], name=name)
        elif kind == "Dense":
            new = tfk.layers.Dense(c["units"], activation=c["activation"], use_bias=c["use_bias"],
                                   name=name)
        elif kind == "Masking":
            continue
        elif kind == "Dropout":
            new = tfk.layers.Dropout(c["rate"], name=name)
        elif kind == "LayerNormalization":
            new = tfk.layers.LayerNormalization(axis=c["axis"], epsilon=c["epsilon"], name=name)
        elif kind == "PositionalEncoding":
            new = _positional_encoding(tfk)(c["max_wavelength"], name=name)
        elif kind == "LastStep":
            new = _last_step(tfk)(name=name)
        elif kind == "GlobalAveragePooling1D":
            new = tfk.layers.GlobalAveragePooling1D(name=name)
        elif kind == "TransformerBlock":
            x = _transformer_block(tfk, layer, x, pairs)
            continue
        else:
            raise TwinError(f"layer '{name}': no tf_keras twin for {kind}")
        x = new(x)
        if layer.weights:
            pairs.append((name, None, name))
    return Twin(tfk.Model(inputs, x, name=f"{keras_model.name}_tf_keras"), pairs)


def twin_of(keras_model, x_check: np.ndarray, batch_size: int | None = 1, unroll: bool = False) -> tuple:
    """Build the twin, copy the weights and check it on the :func:`check_rows` of real inputs
    ``x_check``; return ``(twin, max diff)``."""
    twin = build_twin(keras_model, batch_size, unroll)
    copy_weights(keras_model, twin)
    return twin, check_twin(keras_model, twin, check_rows(keras_model, x_check))


def is_recurrent(keras_model) -> bool:
    """Whether the model has a recurrent layer (bare or inside ``Bidirectional``)."""
    return any(layer["class_name"] in RECURRENT + ("Bidirectional",)
               for layer in keras_model.get_config()["layers"])
