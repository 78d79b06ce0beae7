"""MLflow pyfunc wrapper of an exported SavedModel, so ``mlflow models serve`` can serve it."""
from __future__ import annotations

import os

import mlflow.pyfunc
import numpy as np


class SavedModelPyfunc(mlflow.pyfunc.PythonModel):
    """Predicts with the ``serving_default`` signature of the bundled SavedModel."""

    def load_context(self, context):
        import tensorflow as tf

        self.serve = tf.saved_model.load(context.artifacts["saved_model"]).signatures["serving_default"]

    def predict(self, context, model_input, params=None):
        window = np.asarray(model_input, dtype=np.float32)
        return self.serve(window=window)["forecast"].numpy()


def log_and_register(saved_model: str, name: str, example: np.ndarray, alias: str = "champion"):
    """Log the SavedModel as a pyfunc in the active run, register it, point ``alias`` at it."""
    from mlflow.models import infer_signature

    import mlflow

    loaded = SavedModelPyfunc()
    loaded.load_context(type("Ctx", (), {"artifacts": {"saved_model": saved_model}})())
    signature = infer_signature(example, loaded.predict(None, example))
    package = os.path.dirname(os.path.abspath(__file__))
    info = mlflow.pyfunc.log_model(
        name="model", python_model=SavedModelPyfunc(), artifacts={"saved_model": saved_model},
        code_paths=[package],
        signature=signature, input_example=example, registered_model_name=name,
        pip_requirements=[f"tensorflow=={_version('tensorflow')}", f"mlflow=={mlflow.__version__}"])
    version = info.registered_model_version
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
    return version


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
