"""``mlflow models serve`` on the registry's champion answers like ``seqline serve``."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

import mlflow
import numpy as np
from mlflow.models import Model

from tests.serving_helpers import MODEL, call, free_port, msft_windows, serving_thread


def champion_model_dir(exported) -> tuple:
    """``(registered version, local folder of the logged pyfunc model)`` of ``@champion``."""
    client = mlflow.MlflowClient(tracking_uri=exported.tracking_uri, registry_uri=exported.tracking_uri)
    version = client.get_model_version_by_alias(MODEL, "champion")
    logged = client.get_logged_model(version.source.rsplit("/", 1)[-1])
    return int(version.version), logged.artifact_location.removeprefix("file://")


def test_registered_model_has_a_signature_and_an_input_example(exported):
    version, folder = champion_model_dir(exported)
    assert version == 1
    model = Model.load(folder)
    (tensor,) = model.signature.inputs.inputs
    assert tensor.type == np.dtype("float32") and tuple(tensor.shape) == (-1, 30, 2)
    (output,) = model.signature.outputs.inputs
    assert tuple(output.shape) == (-1, 1)
    assert model.load_input_example(folder).shape == (1, 30, 2)


def test_mlflow_models_serve_answers_like_seqline_serve(exported, tmp_path):
    windows = msft_windows(6)
    port = free_port()
    log = tmp_path / "mlflow_serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion",
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
            cwd=exported.folder, env=exported.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no answer to /ping in 240s: " + log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        status, mlflow_answer = call(url, "POST", "/invocations", {"inputs": windows.tolist()},
                                     {"Content-Type": "application/json"})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert status == 200, mlflow_answer
    with serving_thread(exported.serving_dir) as (seqline_url, _):
        status, seqline_answer = call(seqline_url, "POST", f"/v1/models/{MODEL}/versions/1:predict",
                                      {"instances": windows.tolist()})
    assert status == 200
    assert np.asarray(seqline_answer["predictions"]).shape == (6, 1)
    np.testing.assert_allclose(mlflow_answer["predictions"], seqline_answer["predictions"], rtol=1e-6)
