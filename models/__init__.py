"""Model architectures (keras.layers / keras.ops only, so every Keras backend runs them)."""
from models.registry import ARCHITECTURES, build_model, load_model

__all__ = ["ARCHITECTURES", "build_model", "load_model"]
