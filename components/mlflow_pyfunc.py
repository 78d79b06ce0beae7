"""MLflow pyfunc wrapper of an exported SavedModel, so ``mlflow models serve`` can serve it."""
from __future__ import annotations

import os
import warnings

import mlflow
import mlflow.pyfunc
import numpy as np


class SavedModelPyfunc(mlflow.pyfunc.PythonModel):
    """Predicts with the ``serving_default`` signature of the bundled SavedModel."""

    def load_context(self, context):
        import tensorflow as tf

        loaded = tf.saved_model.load(context.artifacts["saved_model"])
        self.serve = loaded.signatures["serving_default"]

    def predict(self, context, model_input, params=None):
        specs = self.serve.structured_input_signature[1]
        if not isinstance(model_input, dict):   # a one-input signature takes the array itself
            model_input = {next(iter(specs)): model_input}
        outputs = self.serve(**{name: np.asarray(model_input[name], dtype=spec.dtype.as_numpy_dtype)
                                for name, spec in specs.items()})
        if len(outputs) == 1:
            return next(iter(outputs.values())).numpy()
        return {key: value.numpy() for key, value in outputs.items()}


def log_and_register(saved_model: str, name: str, example: np.ndarray, alias: str = "champion"):
    """Log the SavedModel as a pyfunc in the active run, register it, point ``alias`` at it."""
    from importlib.metadata import version

    from mlflow.models import infer_signature

    package = os.path.dirname(os.path.abspath(__file__))
    with warnings.catch_warnings():   # MLflow suggests type hints on predict(); a signature is given
        warnings.simplefilter("ignore")
        loaded = SavedModelPyfunc()
        loaded.load_context(type("Ctx", (), {"artifacts": {"saved_model": saved_model}})())
        signature = infer_signature(example, loaded.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name="model", python_model=SavedModelPyfunc(), artifacts={"saved_model": saved_model},
            code_paths=[package], signature=signature, input_example=example,
            registered_model_name=name,
            pip_requirements=[f"tensorflow=={version('tensorflow')}", f"mlflow=={mlflow.__version__}"])
    registered = info.registered_model_version
    mlflow.MlflowClient().set_registered_model_alias(name, alias, registered)
    return registered
