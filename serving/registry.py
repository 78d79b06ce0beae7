"""The models being served: found under the base path, loaded by version policy, hot-swapped.

Layout: ``<base>/<model name>/<integer version>/`` holding a SavedModel or a ``model.tflite``.
``refresh()`` (run at start and then every ``poll_seconds`` by a background thread) loads the
versions the policy wants *before* publishing a new snapshot and swaps the snapshot in one
assignment, so requests in flight keep the servable they started with and no request sees a gap.
A version that fails to load is reported in the model's status and retried only once its files
change; with ``latest`` the newest version that loads is served (availability first).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field

from seqline.serving import servables
from seqline.serving.errors import RequestError

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
VERSION = re.compile(r"0|[1-9][0-9]{0,17}")


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve: ``latest`` (newest ``count``), ``all``, or ``specific`` ones."""

    mode: str = "latest"
    count: int = 1
    versions: tuple = ()

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """``latest``, ``latest:N``, ``all`` or a comma-separated list of versions (``1,3``)."""
        text = text.strip()
        if text == "all":
            return cls("all")
        if text == "latest":
            return cls("latest", 1)
        if text.startswith("latest:") and text[7:].isdigit() and int(text[7:]) > 0:
            return cls("latest", int(text[7:]))
        parts = [p.strip() for p in text.split(",")]
        if parts and all(VERSION.fullmatch(p) for p in parts):
            return cls("specific", versions=tuple(sorted({int(p) for p in parts})))
        raise ValueError(f"--versions {text!r}: use latest, latest:N (N >= 1), all, "
                         "or versions like 1,3")

    def choose(self, loadable: list) -> list:
        """The versions to serve among ``loadable`` (ascending)."""
        if self.mode == "latest":
            return loadable[-self.count:]
        if self.mode == "all":
            return list(loadable)
        return [v for v in loadable if v in self.versions]


def parse_labels(items: list) -> dict:
    """``{model: {label: version}}`` from ``MODEL:LABEL=VERSION`` strings (``--label``)."""
    labels = {}
    for item in items:
        match = re.fullmatch(r"([^:=]+):([A-Za-z0-9_.-]+)=(0|[1-9][0-9]{0,17})", item.strip())
        if not match or not NAME.fullmatch(match[1]):
            raise ValueError(f"--label {item!r}: use MODEL:LABEL=VERSION, e.g. msft_close:stable=1")
        labels.setdefault(match[1], {})[match[2]] = int(match[3])
    return labels


@dataclass(frozen=True)
class Model:
    """One model in a snapshot: loaded versions, versions that failed to load, labels."""

    name: str
    versions: dict                                   # version -> Servable
    failed: dict = field(default_factory=dict)       # version -> error message
    labels: dict = field(default_factory=dict)       # label -> version

    def status(self, only: int | None = None) -> dict:
        """TensorFlow Serving's ``GetModelStatus`` JSON."""
        rows = [(v, "AVAILABLE", "OK", "") for v in self.versions]
        rows += [(v, "END", "UNKNOWN", msg) for v, msg in self.failed.items()]
        rows = sorted(r for r in rows if only is None or r[0] == only)
        return {"model_version_status": [
            {"version": str(v), "state": state, "status": {"error_code": code, "error_message": msg}}
            for v, state, code, msg in rows]}


class ModelRegistry:
    """Thread-safe view of the served models; ``snapshot`` is replaced, never mutated."""

    def __init__(self, base_path: str, policy: VersionPolicy | None = None,
                 labels: dict | None = None, poll_seconds: float = 1.0, xla: bool = True,
                 echo=None):
        if not os.path.isdir(base_path):
            raise ValueError(f"--model-base-path {base_path}: not a folder")
        if not poll_seconds > 0:
            raise ValueError(f"--poll-seconds must be > 0, got {poll_seconds}")
        self.poll_seconds, self.xla = poll_seconds, xla
        self.base = os.path.realpath(base_path)
        self.policy = policy or VersionPolicy()
        self.labels = labels or {}
        self.echo = echo or logging.getLogger("seqline.serving").info
        self.snapshot: dict = {}
        self.load_failures: dict = {}   # name -> failed load attempts; replaced, never mutated
        self._failed: dict = {}      # (name, version) -> (fingerprint, message)
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # ---- lookups used by request handlers -------------------------------------------------
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> tuple:
        """``(version, servable)`` for a request, or ``RequestError`` 404/503 saying why not."""
        model = self.get(name)
        if label is not None:
            if label not in model.labels:
                known = ", ".join(sorted(model.labels)) or "none"
                raise RequestError(404, f"label {label!r} is not defined for model {name!r} "
                                        f"(labels: {known})")
            version = model.labels[label]
        if version is None:
            if not model.versions:
                raise RequestError(503, f"model {name!r} has no version loaded: "
                                        + "; ".join(model.failed.values()))
            version = max(model.versions)
        servable = model.versions.get(version)
        if servable is None:
            served = ", ".join(map(str, sorted(model.versions))) or "none"
            raise RequestError(404, f"version {version} of model {name!r} is not served "
                                    f"(served versions: {served})")
        return version, servable

    def get(self, name: str) -> Model:
        model = self.snapshot.get(name)
        if model is None:
            if not NAME.fullmatch(name):
                raise RequestError(400, f"invalid model name {name!r}: use letters, digits, "
                                        "'.', '_' and '-', not starting with '.' or '-'")
            served = ", ".join(sorted(self.snapshot)) or "none yet"
            raise RequestError(404, f"model {name!r} is not served (models: {served})")
        return model

    # ---- discovery and loading ------------------------------------------------------------
    def start(self) -> None:
        """Poll the base path every ``poll_seconds`` in a daemon thread."""
        self._thread = threading.Thread(target=self._poll, name="seqline-model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception as exc:   # keep polling whatever one scan hits (e.g. a folder vanishing)
                self.echo(f"model scan failed: {type(exc).__name__}: {exc}")

    def refresh(self) -> dict:
        """Scan the base path, load what the policy wants, publish and return the new snapshot."""
        with self._refresh_lock:
            new = {}
            for name, folders in self._scan().items():
                model = self._refresh_model(name, folders, self.snapshot.get(name))
                if model.versions or model.failed:
                    new[name] = model
            for name in set(self.snapshot) - set(new):
                self.echo(f"model {name} is gone from {self.base}: unloaded")
            self.snapshot = new
            return new

    def _scan(self) -> dict:
        """``{name: {version: folder}}`` of model folders inside the base path."""
        found = {}
        for name in sorted(os.listdir(self.base)):
            model_dir = os.path.join(self.base, name)
            if not NAME.fullmatch(name) or not self._inside(model_dir) or not os.path.isdir(model_dir):
                continue
            versions = {}
            for entry in os.listdir(model_dir):
                folder = os.path.join(model_dir, entry)
                if VERSION.fullmatch(entry) and self._inside(folder) and servables.model_kind(folder):
                    versions[int(entry)] = folder
            if versions:
                found[name] = versions
        return found

    def _inside(self, path: str) -> bool:
        """Whether ``path`` (symlinks resolved) stays inside the base path."""
        return os.path.realpath(path).startswith(self.base + os.sep)

    def _refresh_model(self, name: str, folders: dict, old: Model | None) -> Model:
        loaded = dict(old.versions) if old else {}
        failed = {}
        for version, folder in folders.items():
            known = self._failed.get((name, version))
            if known and known[0] == _fingerprint(folder):
                failed[version] = known[1]
        while True:   # load until the policy's choice among loadable versions is all loaded
            wanted = self.policy.choose(sorted(v for v in folders if v not in failed))
            missing = [v for v in wanted if v not in loaded]
            if not missing:
                break
            for version in missing:
                try:
                    start = time.perf_counter()
                    loaded[version] = servables.load(folders[version], self.xla, self.echo)
                    self._failed.pop((name, version), None)
                    self.echo(f"loaded {name} version {version} ({loaded[version].kind}) "
                              f"in {time.perf_counter() - start:.1f}s")
                except Exception as exc:   # any load failure is reported, never fatal
                    message = f"version {version} failed to load: {type(exc).__name__}: {exc}"
                    failed[version] = message
                    self._failed[(name, version)] = (_fingerprint(folders[version]), message)
                    self.load_failures = {**self.load_failures,
                                          name: self.load_failures.get(name, 0) + 1}
                    self.echo(f"{name} {message}")
        for version in sorted(set(loaded) - set(wanted)):
            self.echo(f"unloaded {name} version {version}")
        return Model(name, {v: loaded[v] for v in wanted}, failed, self.labels.get(name, {}))


def _fingerprint(folder: str) -> tuple:
    """Names, sizes and modification times of a version's files: changes when it is rewritten."""
    files = []
    for root, _, names in os.walk(folder):
        for file in names:
            try:
                st = os.stat(os.path.join(root, file))
            except OSError:
                continue
            files.append((os.path.relpath(os.path.join(root, file), folder), st.st_size, st.st_mtime_ns))
    return tuple(sorted(files))
