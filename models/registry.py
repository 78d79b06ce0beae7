"""Build a Keras model from the ``model`` section of a config: one registry for every task."""
import keras

from seqline.models.heads import HEADS
from seqline.models.recurrent import RECURRENT_LAYERS, recurrent_encoder
from seqline.models.transformer import transformer_encoder

ARCHITECTURES = tuple(RECURRENT_LAYERS) + ("transformer",)


def check_architecture(kind: str) -> None:
    """Raise a ValueError naming ``model.type`` unless ``kind`` is a known architecture."""
    if kind not in ARCHITECTURES:
        raise ValueError(f"model.type must be one of {', '.join(ARCHITECTURES)}, got {kind!r}")


def encoder(x, model_cfg: dict, return_sequences: bool = False):
    """The encoder of ``model_cfg['type']`` applied to the functional tensor ``x``: its summary of
    the sequence ``[batch, units]``, or every step ``[batch, steps, units]`` with
    ``return_sequences``. ``model_cfg['bidirectional']`` runs recurrent layers both ways and lets
    Transformer steps attend to later steps (no causal mask)."""
    kind = model_cfg["type"]
    check_architecture(kind)
    dropout = model_cfg.get("dropout", 0.0)
    bidirectional = model_cfg.get("bidirectional", False)
    if kind == "transformer":
        return transformer_encoder(x, model_cfg["units"], model_cfg["layers"],
                                   model_cfg.get("heads", 4), model_cfg.get("ff_units", 64), dropout,
                                   return_sequences=return_sequences, causal=not bidirectional)
    return recurrent_encoder(x, kind, model_cfg["units"], model_cfg["layers"], dropout,
                             return_sequences=return_sequences, bidirectional=bidirectional)


def build_model(model_cfg: dict, input_shape: tuple, task: str, outputs: int,
                name: str = "seqline", masked: bool = False) -> keras.Model:
    """An uncompiled model: encoder of ``model_cfg['type']`` plus the head of ``task``.

    The encoder gives the head a summary of the sequence or every step, as the head needs
    (``HEADS[task].per_step``). ``masked`` adds ``keras.layers.Masking(0.0)``: input steps whose
    features are all 0 are padding and never change a prediction (give valid steps a non-zero
    indicator feature).

    Example:
        >>> cfg = {"type": "lstm", "units": 8, "layers": 1, "dropout": 0.0}
        >>> build_model(cfg, (30, 1), "forecast", outputs=1).output_shape
        (None, 1)
        >>> build_model(cfg, (30, 2), "label", outputs=3, masked=True).output_shape
        (None, 30, 3)
    """
    check_architecture(model_cfg["type"])
    if task not in HEADS:
        raise ValueError(f"task must be one of {', '.join(HEADS)}, got {task!r}")
    head = HEADS[task]
    inputs = keras.Input(shape=input_shape, name="x")
    x = keras.layers.Masking(0.0, name="padding_mask")(inputs) if masked else inputs
    return keras.Model(inputs, head.build(encoder(x, model_cfg, head.per_step), outputs), name=name)


def load_model(path: str) -> keras.Model:
    """A model saved by the Trainer, uncompiled; importing this package registers the custom
    layers (positional encoding, Transformer block, last step) that loading needs."""
    return keras.saving.load_model(path, compile=False)
