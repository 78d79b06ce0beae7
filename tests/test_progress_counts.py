"""The work counts a running stage shows: counters, the line, and plain lines off a terminal."""
import io
import time

from seqline.pipeline import counters, progress


def test_counted_adds_in_blocks_and_at_the_end():
    counters.reset()
    assert list(counters.counted(range(2500), "rows read", every=1000)) == list(range(2500))
    counters.add("records written", 7)
    assert counters.snapshot() == {"rows read": 2500, "records written": 7}
    counters.reset()
    assert counters.snapshot() == {}


def test_the_line_gives_counts_the_rate_of_the_first_and_the_time():
    line = progress.counts_line("ExampleGen", {"rows read": 1_234_567, "records written": 9},
                                27.0)
    assert line == "ExampleGen: 1,234,567 rows read (45,725/s), 9 records written, 27 s"


def test_what_a_stage_is_doing_comes_first_and_a_new_stage_starts_blank():
    counters.reset()
    assert progress.status_line("Compressor", 3.0) is None         # nothing to show yet
    counters.doing("variant 2 of 9, tflite_int8: converting")
    assert progress.status_line("Compressor", 41.6) == (
        "Compressor: variant 2 of 9, tflite_int8: converting, 42 s")
    counters.add("windows scored", 3000)
    assert progress.status_line("Compressor", 2.0) == (
        "Compressor: variant 2 of 9, tflite_int8: converting, 3,000 windows scored (1,500/s), 2 s")
    counters.reset()
    assert counters.now_doing() == "" and progress.status_line("Evaluator", 1.0) is None


def test_predictions_are_counted_batch_by_batch_as_the_rows_scored():
    import keras
    import numpy as np

    from seqline.components import counted_predict

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(2500, 3)).astype("float32")
    seen = []

    class Watch(keras.callbacks.Callback):          # the count after each batch
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(counters.snapshot().get("windows scored", 0))

    counters.reset()
    original = model.predict
    model.predict = lambda *a, callbacks=(), **k: original(*a, callbacks=[*callbacks, Watch()],
                                                          **k)
    out = counted_predict.predict(model, x, 1000, "windows scored")
    assert seen == [1000, 2000, 2500] and counters.snapshot() == {"windows scored": 2500}
    np.testing.assert_allclose(out, original(x, verbose=0), atol=1e-6)


def test_off_a_terminal_a_plain_line_comes_every_interval(monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.05)
    shown = progress.Progress(1)
    shown.console.file = io.StringIO()
    with shown.watch("Transform"):
        for _ in range(5):
            counters.add("records read", 100)
            time.sleep(0.04)
    lines = [l.strip() for l in shown.console.file.getvalue().splitlines()]
    assert len(lines) >= 2 and all(l.startswith("Transform: ") for l in lines)
    assert "records read (" in lines[-1] and lines[-1].endswith(" s")
    quiet = progress.Progress(1, quiet=True)
    with quiet.watch("Transform"):
        counters.add("records read", 5)
    assert counters.snapshot() == {"records read": 5}   # counted, shown nowhere


def test_a_run_off_a_terminal_prints_the_counts_of_its_data_stages(tmp_path):
    import os
    import subprocess
    import sys

    import yaml

    from tests.forecast_fixtures import ROOT, forecast_config, msft_slice

    cfg = forecast_config(tmp_path, msft_slice(str(tmp_path / "msft.csv"), 4000))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=ROOT, SEQLINE_PROGRESS_SECONDS="0.1",
               MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    done = subprocess.run([sys.executable, "-m", "seqline", "run", "p.yaml", "--until",
                           "StatisticsGen"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert any(l.startswith("ExampleGen: ") and " rows read (" in l for l in lines), done.stdout
    assert any(l.startswith("StatisticsGen: ") and " records read (" in l for l in lines)
    quiet = subprocess.run([sys.executable, "-m", "seqline", "run", "p.yaml", "--until",
                            "StatisticsGen", "--no-cache", "--quiet"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "rows read" not in quiet.stdout


def test_a_bad_interval_in_the_environment_falls_back_to_ten_seconds(monkeypatch):
    for value, expected in (("0.5", 0.5), ("soon", 10.0), ("-1", 10.0), ("nan", 10.0)):
        monkeypatch.setenv("SEQLINE_PROGRESS_SECONDS", value)
        assert progress._plain_every() == expected
