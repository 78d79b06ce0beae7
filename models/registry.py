"""Build a Keras model from the ``model`` section of a config: one registry for every task."""
import keras

from models.heads import HEADS
from models.recurrent import RECURRENT_LAYERS, recurrent_encoder
from models.transformer import transformer_encoder

ARCHITECTURES = tuple(RECURRENT_LAYERS) + ("transformer",)


def check_architecture(kind: str) -> None:
    """Raise a ValueError naming ``model.type`` unless ``kind`` is a known architecture."""
    if kind not in ARCHITECTURES:
        raise ValueError(f"model.type must be one of {', '.join(ARCHITECTURES)}, got {kind!r}")


def encoder(x, model_cfg: dict, return_sequences: bool = False):
    """The encoder of ``model_cfg['type']`` applied to the functional tensor ``x``: its last
    step ``[batch, units]``, or every step ``[batch, steps, units]`` with ``return_sequences``."""
    kind = model_cfg["type"]
    check_architecture(kind)
    dropout = model_cfg.get("dropout", 0.0)
    if kind == "transformer":
        return transformer_encoder(x, model_cfg["units"], model_cfg["layers"],
                                   model_cfg.get("heads", 4), model_cfg.get("ff_units", 64), dropout,
                                   return_sequences=return_sequences)
    return recurrent_encoder(x, kind, model_cfg["units"], model_cfg["layers"], dropout,
                             return_sequences=return_sequences)


def build_model(model_cfg: dict, input_shape: tuple, task: str, outputs: int,
                name: str = "seqline") -> keras.Model:
    """An uncompiled model: encoder of ``model_cfg['type']`` plus the head of ``task``.

    Example:
        >>> cfg = {"type": "lstm", "units": 8, "layers": 1, "dropout": 0.0}
        >>> build_model(cfg, (30, 1), "forecast", outputs=1).output_shape
        (None, 1)
    """
    check_architecture(model_cfg["type"])
    if task not in HEADS:
        raise ValueError(f"task must be one of {', '.join(HEADS)}, got {task!r}")
    inputs = keras.Input(shape=input_shape, name="x")
    return keras.Model(inputs, HEADS[task](encoder(inputs, model_cfg), outputs), name=name)
