"""Build a Keras model from the ``model`` section of a config: one registry for every task."""
import keras

from models.heads import HEADS
from models.recurrent import RECURRENT_LAYERS, recurrent_encoder
from models.transformer import transformer_encoder

ARCHITECTURES = tuple(RECURRENT_LAYERS) + ("transformer",)


def build_model(model_cfg: dict, input_shape: tuple, task: str, outputs: int,
                name: str = "seqline") -> keras.Model:
    """An uncompiled model: encoder of ``model_cfg['type']`` plus the head of ``task``.

    Example:
        >>> cfg = {"type": "lstm", "units": 8, "layers": 1, "dropout": 0.0}
        >>> build_model(cfg, (30, 1), "forecast", outputs=1).output_shape
        (None, 1)
    """
    kind = model_cfg["type"]
    if kind not in ARCHITECTURES:
        raise ValueError(f"model.type must be one of {', '.join(ARCHITECTURES)}, got {kind!r}")
    if task not in HEADS:
        raise ValueError(f"task must be one of {', '.join(HEADS)}, got {task!r}")
    inputs = keras.Input(shape=input_shape, name="x")
    dropout = model_cfg.get("dropout", 0.0)
    if kind == "transformer":
        x = transformer_encoder(inputs, model_cfg["units"], model_cfg["layers"],
                                model_cfg.get("heads", 4), model_cfg.get("ff_units", 64), dropout)
    else:
        x = recurrent_encoder(inputs, kind, model_cfg["units"], model_cfg["layers"], dropout)
    return keras.Model(inputs, HEADS[task](x, outputs), name=name)
