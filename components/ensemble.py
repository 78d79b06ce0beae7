"""Ensembles: several members trained on the same data, and their average as one more candidate.

``model.ensemble`` lists the members (architecture names, or mappings overriding keys of the
``model`` section). The Trainer fits each member, builds one Keras model that averages the
members' outputs (regression values or probabilities), keeps every candidate under
``candidates/<label>/model.keras`` of its Model artifact and saves the candidate with the lowest
eval-split loss as ``model.keras`` (the ensemble when there is no eval split). The Evaluator scores
every candidate on the test split next to the selected one; the Pusher exports the selected model
like any other, so an ensemble is exported as one SavedModel that averages its members.
"""
from __future__ import annotations

import json
import os

CANDIDATES_DIR = "candidates"
ENSEMBLE = "ensemble"
INDEX_FILE = "candidates.json"


def members(model_cfg: dict) -> list:
    """``[(label, model config)]`` of the members: one per ``model.ensemble`` entry (each a
    mapping of overrides, as the config check leaves them), or the model itself."""
    base = {k: v for k, v in model_cfg.items() if k != "ensemble"}
    entries = model_cfg.get("ensemble") or []
    if not entries:
        return [(base["type"], base)]
    out, seen = [], {}
    for entry in entries:
        cfg = {**base, **entry}
        seen[cfg["type"]] = seen.get(cfg["type"], 0) + 1
        out.append((cfg["type"] if seen[cfg["type"]] == 1 else f"{cfg['type']}_{seen[cfg['type']]}", cfg))
    return out


def average_model(models: list, name: str):
    """One Keras model whose output is the mean of ``models``' outputs on the same input."""
    import keras

    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(models)}")
    first = models[0]
    inputs = keras.Input(shape=first.input_shape[1:], dtype=first.inputs[0].dtype, name="x")
    return keras.Model(inputs, keras.layers.Average(name="average")([m(inputs) for m in models]),
                       name=name)


def candidate_path(model_dir: str, label: str) -> str:
    return os.path.join(model_dir, CANDIDATES_DIR, label, "model.keras")


def write_index(model_dir: str, losses: dict, selected: str, monitor: str) -> None:
    """Record the candidates' eval losses and which one became ``model.keras``."""
    with open(os.path.join(model_dir, CANDIDATES_DIR, INDEX_FILE), "w", encoding="utf-8") as fh:
        json.dump({"losses": losses, "selected": selected, "monitor": monitor}, fh, indent=2)


def read_index(model_path: str) -> dict | None:
    """The candidates index next to ``model.keras``, or ``None`` for a single model."""
    path = os.path.join(os.path.dirname(model_path), CANDIDATES_DIR, INDEX_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def score_candidates(model_path: str, score) -> dict:
    """``{label: score(loaded Keras model)}`` for every candidate of an ensemble run (``{}`` for a
    single model)."""
    from seqline.models import load_model

    index = read_index(model_path)
    if index is None:
        return {}
    model_dir = os.path.dirname(model_path)
    return {label: score(load_model(candidate_path(model_dir, label)))
            for label in index["losses"]}


def describe(candidates: dict, index: dict, key: str) -> str:
    """One line naming each candidate's test ``key`` metric and the one selected on eval loss."""
    parts = ", ".join(f"{label} {m[key]:.4f}" for label, m in candidates.items())
    return f"candidates on the test split ({key}): {parts}; selected on eval loss: {index['selected']}"
