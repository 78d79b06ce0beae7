"""The generate task end to end: pipeline, metrics, the exported model in a fresh process, the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from seqline.components import evaluator
from seqline.components.split_io import split_pattern
from seqline.components.tasks.text.export import GenerateServer, start_id
from seqline.components.tasks.text.data import load_arrays
from seqline.pipeline import counters
from seqline.pipeline.runner import run_pipeline
from tests.forecast_fixtures import run_executor
from tests.test_generate_text import corpus_head, generate_config

PROMPT = "LAWYER, n.  "


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small corpus slice, GRU, 3 epochs, through every stage, tracked in a fresh store."""
    tmp = tmp_path_factory.mktemp("generate")
    corpus_head(tmp / "corpus.txt", 60000)
    cfg = generate_config(tmp, "corpus.txt", model={"type": "gru", "units": 48},
                          training={"epochs": 3, "batch_size": 32, "learning_rate": 0.005})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        result = run_pipeline(cfg, quiet=True)
        again = run_pipeline(cfg, start="Evaluator", quiet=True,   # the champion is version 1
                             use_cache=False)
    return tmp, cfg, result, again


def test_model_beats_the_unigram_baseline_and_reports_both(run):
    _, _, result, _ = run
    evaluation = result.artifacts[("Evaluator", "evaluation")]
    scores = evaluation.properties["metrics"]
    assert set(scores) == {"model", "unigram"}
    assert 0 < scores["model"]["bits_per_char"] < scores["unigram"]["bits_per_char"] < 7
    assert scores["model"]["perplexity"] == pytest.approx(2 ** scores["model"]["bits_per_char"])
    for name in ("metrics.json", "samples.txt", "bits_per_position.png"):
        assert os.path.isfile(evaluation.path(name))
    with open(evaluation.path("samples.txt"), encoding="utf-8") as fh:
        assert "greedy" in fh.read()
    assert result.artifacts[("Pusher", "pushed_model")].properties["version"] == 1


def test_champion_is_rescored_through_its_score_signature(run):
    _, _, result, again = run
    first = result.artifacts[("Evaluator", "evaluation")].properties["metrics"]
    scores = again.artifacts[("Evaluator", "evaluation")].properties["metrics"]
    # the champion is the same model, exported: its score signature must agree with the Evaluator
    assert scores["champion"]["bits_per_char"] == pytest.approx(first["model"]["bits_per_char"], abs=1e-3)


FRESH = r"""
import json, sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
gen = model.signatures["serving_default"]
def run(temperature, top_k, seed):
    out = gen(prompt=tf.constant([sys.argv[2], ""]), length=tf.constant(40), seed=tf.constant(seed, tf.int64),
              temperature=tf.constant(temperature), top_k=tf.constant(top_k))
    return [t.decode("utf-8") for t in out["text"].numpy()]
texts = json.load(open(sys.argv[3]))
score = model.signatures["score"](text=tf.constant(texts))
n = score["predicted_chars"].numpy()
json.dump({"greedy": run(0.0, 0, 1), "top1": run(1.0, 1, 5), "a": run(1.0, 0, 7), "b": run(1.0, 0, 7),
           "c": run(1.0, 0, 8), "bpc": float((score["bits_per_char"].numpy() * n).sum() / n.sum())},
          open(sys.argv[4], "w"))
"""


def test_exported_model_in_a_fresh_process_generates_and_scores(run):
    tmp, cfg, result, _ = run
    transformed = result.artifacts[("Transform", "transformed_examples")]
    graph = result.artifacts[("Transform", "transform_graph")]
    test = load_arrays(split_pattern(transformed.uri, "test"), transformed.properties)
    (tmp / "texts.json").write_text(json.dumps(test["text"]))
    exported = result.artifacts[("Pusher", "pushed_model")].properties["path"]
    done = subprocess.run([sys.executable, "-c", FRESH, exported, PROMPT, str(tmp / "texts.json"),
                           str(tmp / "out.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads((tmp / "out.json").read_text())
    # greedy generation equals the same code run in this process on the Trainer's .keras model
    fitted = json.load(open(graph.path("params.json")))
    model = keras.saving.load_model(result.artifacts[("Trainer", "model")].path("model.keras"))
    server = GenerateServer(tf.saved_model.load(graph.path("graph")), model, fitted["seq_len"],
                            start_id(fitted["vocab"]))
    local = server.generate(tf.constant([PROMPT]), tf.constant(40), tf.constant(0.0), tf.constant(0),
                            tf.constant(1, tf.int64))["text"].numpy()[0].decode()
    assert out["greedy"][0] == local and len(local) == 40
    assert out["top1"] == out["greedy"]                  # top-k 1 samples the likeliest character
    assert out["a"] == out["b"] and out["a"] != out["c"]  # a seed fixes the sample
    assert set("".join(out["a"])) <= set(fitted["vocab"])
    evaluated = result.artifacts[("Evaluator", "evaluation")].properties["metrics"]["model"]
    assert out["bpc"] == pytest.approx(evaluated["bits_per_char"], abs=1e-3)


def test_cli_generates_text_and_rejects_bad_arguments(run, capsys):
    from seqline.pipeline.cli import main

    tmp, cfg, result, _ = run
    model_dir = os.path.join(cfg["pusher"]["serving_dir"], cfg["pusher"]["model_name"])
    assert main(["generate", model_dir, "--prompt", PROMPT, "--length", "60", "--temperature", "0.7",
                 "--top-k", "10", "--seed", "3"]) == 0
    printed = capsys.readouterr().out.rstrip("\n")
    assert printed.startswith(PROMPT) and len(printed) == len(PROMPT) + 60
    assert main(["generate", model_dir, "--temperature", "-1"]) == 2
    assert "seqline: config error: --temperature: must be >= 0" in capsys.readouterr().err
    assert main(["generate", str(tmp / "nowhere")]) == 1
    assert "MODEL:" in capsys.readouterr().err
    forecast_model = result.artifacts[("Transform", "transform_graph")].path("graph")
    assert main(["generate", forecast_model]) == 1       # a SavedModel, but no generator
    assert "seqline generate needs one exported by a 'task: generate' pipeline" in capsys.readouterr().err


def test_mlflow_has_the_metrics_and_the_registered_model(run):
    import mlflow

    tmp, cfg, result, _ = run
    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("lm_test").experiment_id],
                              "tags.`seqline.component` = 'Evaluator'")
    metrics = runs[-1].data.metrics
    assert metrics["model_bits_per_char"] < metrics["unigram_bits_per_char"]
    # the second run re-evaluated the same model, blessed against the champion; the Pusher does
    # not push a model the newest version already holds
    assert str(client.get_model_version_by_alias("lm_test", "champion").version) == "1"


def test_the_evaluator_counts_the_sequences_it_scores(run):
    tmp, cfg, result, _ = run
    inputs = {name: result.artifacts[key] for name, key in (
        ("transformed_examples", ("Transform", "transformed_examples")),
        ("transform_graph", ("Transform", "transform_graph")), ("model", ("Trainer", "model")))}
    counters.reset()
    out = run_executor(evaluator, cfg, inputs, str(tmp / "eval_counted"))
    sequences = out["evaluation"].properties["test_sequences"]
    assert sequences > 0 and counters.snapshot() == {"sequences scored": sequences}
