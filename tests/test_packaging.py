"""The project installs as one ``seqline`` namespace: nothing imports the folders by their bare
names, a wheel installed in a fresh venv has ``seqline.*`` and no top-level ``pipeline``, and
a model logged by the old layout still loads."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

import seqline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("pipeline", "components", "models", "serving", "corpora")


def _python_files():
    for top in (*FOLDERS, "seqline", "tests", "bench"):
        for base, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            yield from (os.path.join(base, f) for f in files if f.endswith(".py"))


def test_every_import_of_the_project_goes_through_seqline():
    bare = []
    for path in _python_files():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bare += [f"{os.path.relpath(path, ROOT)}:{node.lineno} {name}" for name in names
                     if name and name.split(".")[0] in FOLDERS]
    assert not bare


def test_the_bare_folder_names_are_not_importable_outside_the_repository(tmp_path):
    outside = subprocess.run([sys.executable, "-c", "import pipeline"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert outside.returncode == 1 and "No module named 'pipeline'" in outside.stderr
    version = subprocess.run([sys.executable, "-m", "seqline", "--version"], cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"seqline {seqline.__version__}"


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_installs_the_namespace_only(tmp_path):
    """``pip install <repo>`` (no editable finder): ``seqline.*`` imports, ``pipeline`` does not,
    and the console script runs. The venv borrows this one's import path (not the repository,
    not the editable finder) through a path file, so nothing is downloaded."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "mlruns", "output", "build", "*.egg-info", "__pycache__", "data"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print("
                           "sysconfig.get_paths()['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    borrowed = [p for p in sys.path if os.path.isdir(p) and os.path.abspath(p) not in
                (ROOT, os.path.join(ROOT, "tests"))]
    with open(os.path.join(site, "dependencies.pth"), "w") as fh:
        fh.write("".join(f"{os.path.abspath(p)}\n" for p in borrowed))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps",
                    "--no-build-isolation", str(source)], check=True, cwd=tmp_path)
    python = str(venv / "bin" / "python")
    bare = subprocess.run([python, "-c", "import pipeline"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert "No module named 'pipeline'" in bare.stderr
    found = subprocess.run([python, "-c", "import seqline.serving.server, "
                            "seqline.components.tasks.forecast.task as t; print(t.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert found.stdout.startswith(site)
    version = subprocess.run([str(venv / "bin" / "seqline"), "--version"], cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"seqline {seqline.__version__}"


LOG_OLD_LAYOUT = r"""
import sys, mlflow, tensorflow as tf
from components.mlflow_pyfunc import SavedModelPyfunc   # the module as the old layout named it

class Double(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def serve(self, x):
        return {"y": 2 * x}

module = Double()
tf.saved_model.save(module, "saved", signatures={"serving_default": module.serve})
mlflow.set_tracking_uri("sqlite:///mlflow.db")
with mlflow.start_run():
    info = mlflow.pyfunc.log_model(name="model", python_model=SavedModelPyfunc(),
                                   artifacts={"saved_model": "saved"},
                                   code_paths=[sys.argv[1]])
print(info.model_uri)
"""
LOAD = r"""
import importlib.util, sys, mlflow, numpy as np
assert importlib.util.find_spec("components") is None    # only the model's own code has it
mlflow.set_tracking_uri("sqlite:///mlflow.db")
print(mlflow.pyfunc.load_model(sys.argv[1]).predict(np.ones((3, 2), np.float32)).tolist())
"""


@pytest.mark.slow
def test_a_model_logged_by_the_old_layout_still_loads(tmp_path):
    """Models logged before the namespace move pickled ``components.mlflow_pyfunc`` and carry
    that code (``code_paths``), so they load and predict with the new layout installed."""
    old = tmp_path / "old" / "components"
    old.mkdir(parents=True)
    (old / "__init__.py").write_text("")
    shutil.copy(os.path.join(ROOT, "components", "mlflow_pyfunc.py"), old)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}   # its own store
    env.update(PYTHONPATH=str(old.parent), TF_CPP_MIN_LOG_LEVEL="3")
    logged = subprocess.run([sys.executable, "-c", LOG_OLD_LAYOUT, str(old)], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert logged.returncode == 0, logged.stderr[-3000:]
    env.pop("PYTHONPATH")
    loaded = subprocess.run([sys.executable, "-c", LOAD, logged.stdout.split()[-1]], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split("\n")[-2] == str([[2.0, 2.0]] * 3)
