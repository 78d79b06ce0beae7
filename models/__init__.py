"""Model architectures (keras.layers / keras.ops only, so every Keras backend runs them)."""
from seqline.models.language_model import build_language_model
from seqline.models.registry import ARCHITECTURES, build_model, load_model

__all__ = ["ARCHITECTURES", "build_language_model", "build_model", "load_model"]
