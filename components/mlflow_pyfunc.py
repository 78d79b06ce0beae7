"""MLflow pyfunc wrapper of an exported SavedModel, so ``mlflow models serve`` can serve it."""
from __future__ import annotations

import logging
import contextlib
import os
import shutil
import tempfile
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

    def predict(self, context, model_input: np.ndarray, params=None):
        """One array for a one-input signature, or a dict of arrays by input name; string
        outputs come back as ``str`` arrays. (``np.ndarray`` is a hint MLflow infers no schema
        from: the logged signature describes the input.)"""
        specs = self.serve.structured_input_signature[1]
        if not isinstance(model_input, dict):
            if len(specs) != 1:
                raise ValueError(f"model_input: expected a dict with keys {sorted(specs)}")
            model_input = {next(iter(specs)): model_input}
        outputs = self.serve(**{name: np.asarray(model_input[name],
                                                 dtype=spec.dtype.as_numpy_dtype)
                                for name, spec in specs.items()})
        outputs = {key: _numpy(value) for key, value in outputs.items()}
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs


def _numpy(tensor) -> np.ndarray:
    value = np.asarray(tensor.numpy())   # a scalar string tensor gives bytes
    if value.dtype == object or value.dtype.kind == "S":
        return np.char.decode(value.astype(bytes), "utf-8")
    return value


def _schema(specs: dict):
    """An MLflow tensor schema of named TF tensors or specs; unknown dimensions become -1."""
    from mlflow.types.schema import Schema, TensorSpec

    return Schema([TensorSpec(np.dtype(str) if spec.dtype.name == "string"
                              else np.dtype(spec.dtype.as_numpy_dtype),
                              [-1 if d is None else d for d in spec.shape], name)
                   for name, spec in specs.items()])


def log_and_register(saved_model: str, name: str, example, alias: str = "champion"):
    """Log the SavedModel as a pyfunc in the active run, register it, point ``alias`` at it."""
    from importlib.metadata import version

    from mlflow.models import ModelSignature, infer_signature

    from seqline.pipeline.logs import stderr_to_debug

    # MLflow advises on signatures and examples: both are given
    with _wrapper_code() as code, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = SavedModelPyfunc()
        loaded.load_context(type("Ctx", (), {"artifacts": {"saved_model": saved_model}})())
        signature = infer_signature(example, loaded.predict(None, example))
        if isinstance(example, dict):   # named inputs: keep the serving signature's free dims
            example = {k: np.asarray(v).astype(str) if np.asarray(v).dtype == object else v
                       for k, v in example.items()}
            serve = loaded.serve
            signature = ModelSignature(_schema(serve.structured_input_signature[1]),
                                       _schema(serve.structured_outputs))
        # MLflow prints "Successfully registered model ..." and "Created version ...": to debug
        with stderr_to_debug(logging.getLogger("seqline.pusher"), "MLflow"):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=SavedModelPyfunc(),
                artifacts={"saved_model": saved_model}, code_paths=[code], signature=signature,
                input_example=example, registered_model_name=name,
                pip_requirements=[f"tensorflow=={version('tensorflow')}",
                                  f"mlflow=={mlflow.__version__}"])
    registered = info.registered_model_version
    mlflow.MlflowClient().set_registered_model_alias(name, alias, registered)
    return registered


@contextlib.contextmanager
def _wrapper_code():
    """A temporary ``seqline/components/mlflow_pyfunc.py`` tree (this module only), logged as the
    model's code: MLflow puts it on ``sys.path`` when it loads the model, so the pickled
    :class:`SavedModelPyfunc` imports without seqline installed."""
    with tempfile.TemporaryDirectory(prefix="seqline-pyfunc-") as tmp:
        package = os.path.join(tmp, "seqline", "components")
        os.makedirs(package)
        for folder in (os.path.dirname(package), package):
            open(os.path.join(folder, "__init__.py"), "w").close()
        shutil.copy(os.path.abspath(__file__), package)
        yield os.path.dirname(package)
