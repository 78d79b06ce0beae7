"""Fingerprints for the cache: a component's code, its parameters and its input artifacts.

An execution's fingerprint is the SHA-256 of

* its **code version**: the source of the component module and every project module it can run
  (found statically from ``import`` statements, so nothing heavy is imported), including the task
  plug-in's methods the component calls, plus the versions of the libraries that shape results;
* its **parameters** (the component's slice of the config, as JSON);
* its **inputs**: each input artifact's fingerprint, or what the component declares instead
  (``cache_inputs``: e.g. the data files ExampleGen reads).

An artifact's fingerprint is the SHA-256 of its files and properties, computed once when its
execution completes and stored in ``artifact.json``: an unchanged rerun of a deterministic stage
produces the same fingerprint, so the stages after it are reused.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
from importlib import metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # holds pipeline/, components/
PROJECT_PACKAGES = ("seqline.pipeline", "seqline.components", "seqline.models", "seqline.serving")
LIBRARIES = ("tensorflow", "keras", "apache-beam", "numpy", "protobuf")
IGNORED = ("artifact.json",)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def of_json(obj) -> str:
    """The fingerprint of a JSON-able object (keys sorted)."""
    return sha256_text(json.dumps(obj, sort_keys=True, default=str))


def of_file(path: str) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def of_folder(folder: str, properties: dict) -> str:
    """The fingerprint of an artifact: relative paths and bytes of its files, and its properties."""
    digest = hashlib.sha256(json.dumps(properties, sort_keys=True, default=str).encode())
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, folder)
            if rel in IGNORED:
                continue
            digest.update(f"\0{rel}\0{of_file(path)}".encode())
    return digest.hexdigest()


def of_execution(code: str, params: dict, inputs: dict) -> str:
    """The cache key of an execution from its code version, parameters and input fingerprints."""
    return of_json({"code": code, "params": params, "inputs": inputs})


# --- code version ---------------------------------------------------------------------------------

def _module_path(name: str) -> str | None:
    """The source file of project module ``name`` (without importing it), or None."""
    parts = name.split(".")
    if ".".join(parts[:2]) not in PROJECT_PACKAGES:
        return None
    base = os.path.join(ROOT, *parts[1:])
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


@functools.lru_cache(maxsize=None)
def _parse(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), path)


def _imported(node: ast.AST, module: str) -> set:
    """Project module names imported anywhere inside ``node`` (also inside functions)."""
    is_package = _module_path(module).endswith("__init__.py")
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            names = [alias.name for alias in sub.names]
        elif isinstance(sub, ast.ImportFrom):
            base = sub.module or ""
            if sub.level:                                   # relative import
                anchor = package.split(".")[:len(package.split(".")) - sub.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in sub.names]
        else:
            continue
        for name in names:                                  # a.b.c imports a, a.b and a.b.c
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if _module_path(name)}


def _closure(roots: set) -> set:
    """Every project module reachable from ``roots`` through imports."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imported(_parse(_module_path(name)), name) - seen)
    return seen


def _hooks_used(component: str) -> set:
    """Names of task-plug-in hooks (``Task`` methods) the component module refers to."""
    base = _parse(_module_path("seqline.components.tasks.base"))
    task = next(n for n in base.body if isinstance(n, ast.ClassDef) and n.name == "Task")
    hooks = {f.name for f in task.body if isinstance(f, ast.FunctionDef)}
    attrs = {n.attr for n in ast.walk(_parse(_module_path(component))) if isinstance(n, ast.Attribute)}
    return hooks & attrs


def _task_class(task: str) -> tuple:
    """``(module name, class name)`` of the task plug-in, from ``seqline.components.tasks.TASK_CLASSES``."""
    from seqline.components.tasks import TASK_CLASSES

    module, cls = TASK_CLASSES[task].split(":")
    return module, cls


def _task_sources(task: str, hooks: set) -> tuple:
    """Modules imported by the task module itself and by the ``hooks`` it implements (and the
    methods those call on ``self``), plus the source text of those methods."""
    module, cls = _task_class(task)
    tree = _parse(_module_path(module))
    klass = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    methods = {f.name: f for f in klass.body if isinstance(f, ast.FunctionDef)}
    top = ast.Module(body=[n for n in tree.body if not isinstance(n, ast.ClassDef)], type_ignores=[])
    roots, texts, todo, seen = _imported(top, module), [], sorted(hooks), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in methods:
            continue
        seen.add(name)
        roots |= _imported(methods[name], module)
        texts.append(ast.unparse(methods[name]))
        todo += [n.attr for n in ast.walk(methods[name]) if isinstance(n, ast.Attribute)
                 and isinstance(n.value, ast.Name) and n.value.id == "self"]
    texts += [ast.unparse(top), ast.unparse(ast.Module(
        body=[n for n in klass.body if not isinstance(n, ast.FunctionDef)], type_ignores=[]))]
    return roots, texts


def code_files(component: str, task: str) -> list:
    """Project source files whose change changes what ``component`` (a module name) computes."""
    roots = {component}
    if _hooks_used(component):
        roots |= _task_sources(task, _hooks_used(component))[0]
    return sorted(_module_path(name) for name in _closure(roots))


@functools.lru_cache(maxsize=None)
def code_version(component: str, task: str) -> str:
    """The code version of ``component`` run with ``task``: its source closure, the task methods
    it calls, library versions and the Keras backend."""
    digest = hashlib.sha256()
    for path in code_files(component, task):
        digest.update(f"\0{os.path.relpath(path, ROOT)}\0{of_file(path)}".encode())
    hooks = _hooks_used(component)
    if hooks:
        for text in _task_sources(task, hooks)[1]:
            digest.update(text.encode())
    versions = {name: _version(name) for name in LIBRARIES}
    versions["python"] = ".".join(map(str, sys.version_info[:2]))
    versions["keras_backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"
