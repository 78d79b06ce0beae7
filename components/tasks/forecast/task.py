"""Forecasting: the next ``horizon`` values of a target column from a window of the past."""
from __future__ import annotations

import json

from seqline.components.split_io import split_pattern
from seqline.components.tasks.base import Task, train_eval_datasets


class ForecastTask(Task):
    """Time-split CSV, window-relative (or train-split) scaling, regression head, MAE (or MSE, or
    pinball) loss, MAE/RMSE/sMAPE/MASE next to the baselines (and interval coverage and width for
    quantiles), raw-window serving signature."""

    name = "forecast"
    loss_label = "loss (MAE per window spread, pinball with quantiles, or MSE in scaled units)"

    def example_gen(self, params, examples, quarantine, ctx):
        from seqline.components.tasks.forecast.example_gen import generate

        return generate(params, examples, quarantine, ctx)

    def transform(self, params, examples, graph, transformed, ctx):
        from seqline.components.tasks.forecast.transform import run_transform

        return run_transform(params, examples, graph, transformed, ctx)

    def datasets(self, transformed, training):
        from seqline.components.tasks.forecast.data import make_dataset

        return train_eval_datasets(make_dataset, transformed, training)

    def build_model(self, model_cfg, transformed, name):
        """The configured model; with a ``lookback`` in ``model_cfg`` (a tuned one) shorter than
        Transform's, the model crops its input to the last ``lookback`` steps of each window. A
        quantile model's head starts at the Transform's ``quantile_offsets``."""
        import keras

        from seqline.models import build_model

        props = transformed.properties
        steps, n_features = props["steps"], props["n_features"]
        outputs = props["horizon"] * len(props.get("quantiles") or [0.5])
        crop = props["lookback"] - model_cfg.get("lookback", props["lookback"])
        if not 0 <= crop < steps:
            raise ValueError(f"lookback must be from {props['lookback'] - steps + 1} to "
                             f"{props['lookback']}, got {model_cfg['lookback']}")
        if crop == 0:
            model = build_model(model_cfg, (steps, n_features), "forecast", outputs, name=name)
        else:
            inner = build_model(model_cfg, (steps - crop, n_features), "forecast", outputs,
                                name=f"{name}_lookback_{model_cfg['lookback']}")
            inputs = keras.Input((steps, n_features), name="x")
            cropped = keras.layers.Cropping1D((crop, 0), name="lookback")(inputs)
            model = keras.Model(inputs, inner(cropped), name=name)
        if props.get("quantile_offsets"):
            head = (model if crop == 0 else inner).get_layer("forecast")
            head.bias.assign(props["quantile_offsets"])
        return model

    def compile_args(self, transformed):
        """Quantile models train on the pinball loss; window-relative models on MAE (the MASE
        numerator), level models on MSE."""
        if transformed.properties.get("quantiles"):
            from seqline.models.quantile_loss import PinballLoss

            return {"loss": PinballLoss(transformed.properties["quantiles"])}
        if transformed.properties.get("normalization") == "window":
            return {"loss": "mae", "metrics": ["mse"]}
        return {"loss": "mse", "metrics": ["mae"]}

    def evaluate(self, params, transformed, graph, model_path, evaluation, ctx):
        from seqline.components.tasks.forecast.evaluate import evaluate

        return evaluate(params, transformed, graph, model_path, evaluation, ctx)

    def export(self, graph, model_path, transformed, path):
        import tensorflow as tf

        from seqline.components import serving_export
        from seqline.components.tasks.forecast.export import ForecastServer
        from seqline.models import load_model

        props = transformed.properties
        model = load_model(model_path)
        levels = props.get("quantiles")
        server = ForecastServer(tf.saved_model.load(graph.path("graph")), model,
                                props["lookback"], props["n_features"], quantiles=bool(levels))
        with open(graph.path("params.json"), encoding="utf-8") as fh:
            params = json.load(fh)
        spec = {"inputs": {"window": {"dtype": "float32",
                                      "shape": [-1, props["lookback"], props["n_features"]],
                                      "columns": params["feature_columns"]}},
                "outputs": {"forecast": {"dtype": "float32", "shape": [-1, props["horizon"]],
                                         "column": params["target_column"]}}}
        if levels:
            spec["outputs"]["quantiles"] = {"dtype": "float32",
                                            "shape": [-1, props["horizon"], len(levels)],
                                            "levels": levels, "column": params["target_column"]}
        serving_export.save(server, path, spec)
        return spec

    compression_module = "seqline.components.tasks.forecast.compression"

    def example_input(self, transformed):
        from seqline.components.tasks.forecast.data import make_dataset

        pattern = split_pattern(transformed.uri, "test")
        _, _, raw = next(iter(make_dataset(pattern, transformed.properties, 1, with_raw=True)))
        return raw["window"].numpy()
