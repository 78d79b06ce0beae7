"""Typed artifacts: folders on disk with an ``artifact.json`` of properties.

Components talk only through artifacts. An artifact folder is complete exactly when its
``artifact.json`` exists: the runner writes outputs under a temporary execution folder and renames
it into place only after every output is written, so a crashed run leaves nothing a later run
would trust.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

ARTIFACT_TYPES = (
    "Examples", "Quarantine", "ExampleStatistics", "Schema", "ExampleAnomalies",
    "TransformGraph", "TransformedExamples", "HyperParameters", "Model", "Evaluation", "Blessing",
    "Compression", "PushedModel",
)
PROPERTIES_FILE = "artifact.json"


@dataclass
class Artifact:
    """An artifact of ``type`` stored in the folder ``uri``, with JSON-able ``properties``."""

    type: str
    uri: str
    properties: dict = field(default_factory=dict)
    producer: str = ""
    execution_id: str = ""
    fingerprint: str = ""       # of its files and properties, set when its execution completes

    def __post_init__(self):
        if self.type not in ARTIFACT_TYPES:
            raise ValueError(f"unknown artifact type {self.type!r}; known: {ARTIFACT_TYPES}")

    def path(self, *parts: str) -> str:
        """A path inside the artifact folder."""
        return os.path.join(self.uri, *parts)

    def to_json(self) -> dict:
        return {"type": self.type, "producer": self.producer, "execution_id": self.execution_id,
                "fingerprint": self.fingerprint, "properties": self.properties}

    def save(self) -> None:
        """Write ``artifact.json`` (marks the folder complete once its execution is renamed)."""
        os.makedirs(self.uri, exist_ok=True)
        write_json_atomic(self.path(PROPERTIES_FILE), self.to_json())

    @classmethod
    def load(cls, uri: str) -> "Artifact":
        """Read the artifact stored in ``uri``."""
        with open(os.path.join(uri, PROPERTIES_FILE), encoding="utf-8") as fh:
            meta = json.load(fh)
        return cls(meta["type"], uri, meta["properties"], meta["producer"], meta["execution_id"],
                   meta.get("fingerprint", ""))


def write_json_atomic(path: str, obj, sort_keys: bool = True) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=sort_keys, default=str)
    os.replace(tmp, path)
