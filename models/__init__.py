"""Model architectures (keras.layers / keras.ops only, so every Keras backend runs them)."""
from models.language_model import build_language_model
from models.registry import ARCHITECTURES, build_model, load_model

__all__ = ["ARCHITECTURES", "build_language_model", "build_model", "load_model"]
