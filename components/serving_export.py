"""Exported models in the TensorFlow Serving layout: ``<serving_dir>/<name>/<version>/``.

Each version holds a SavedModel whose ``serving_default`` signature takes raw input, and
``assets.extra/seqline.json`` describing it (inputs, outputs, metrics, source).
"""
from __future__ import annotations

import json
import os

METADATA = os.path.join("assets.extra", "seqline.json")


def save(module, path: str, metadata: dict, extra_signatures: dict | None = None) -> None:
    """Save a ``tf.Module`` with a ``serve`` function as a SavedModel plus its metadata;
    ``extra_signatures`` maps more signature names to functions of the module."""
    import tensorflow as tf

    tf.saved_model.save(module, path, signatures={"serving_default": module.serve,
                                                   **(extra_signatures or {})})
    write_metadata(path, metadata)


def write_metadata(path: str, metadata: dict) -> None:
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, METADATA), "w", encoding="utf-8") as fh:
        json.dump(metadata, fh, indent=2)


def read_metadata(path: str) -> dict:
    with open(os.path.join(path, METADATA), encoding="utf-8") as fh:
        return json.load(fh)


def load_signature(path: str):
    """The ``serving_default`` function of an exported model."""
    import tensorflow as tf

    return tf.saved_model.load(path).signatures["serving_default"]


def versions(model_dir: str) -> list:
    """Integer versions present under ``<serving_dir>/<model_name>``, ascending."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(v) for v in os.listdir(model_dir)
                  if v.isdigit() and os.path.isfile(os.path.join(model_dir, v, "saved_model.pb")))
