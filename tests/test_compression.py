"""Compression on real (small) models: the tf_keras twin, LiteRT conversion and its op list, the
Compressor run with its budget, and the Pusher's export of the chosen variants."""
import json
import os

import keras
import numpy as np
import pytest

from seqline.components import compressor, evaluator, example_gen, pusher, trainer, transform
from seqline.components.compression import tflite_export
from seqline.components.compression.keras_twin import TwinError, build_twin, twin_of
from seqline.components.compression.runtimes import LiteRTRunner
from seqline.models import build_model
from seqline.pipeline import counters
from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.component import Context
from tests.forecast_fixtures import forecast_config, msft_slice, run_executor

SMALL = ["float16", "tflite_int8", "tflite_pruned_int8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch LSTM on 600 real MSFT rows, through the pipeline's executors up to the Evaluator."""
    tmp = tmp_path_factory.mktemp("compression")
    cfg = forecast_config(tmp, msft_slice(str(tmp / "msft.csv"), 600),
                          compression={"variants": SMALL, "latency_runs": 20,
                                       "pruning": {"epochs": 1}})
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    tf_out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    inputs = {"transformed_examples": tf_out["transformed_examples"],
              "transform_graph": tf_out["transform_graph"]}
    model = run_executor(trainer, cfg, inputs, str(tmp / "trainer"),
                         Context(state_dir=str(tmp / "state")))["model"]
    inputs["model"] = model
    evaluated = run_executor(evaluator, cfg, inputs, str(tmp / "eval"))
    inputs.update(evaluated)
    return tmp, cfg, inputs


def compress(tmp, cfg, inputs, folder, **changes):
    cfg = {**cfg, "compression": {**cfg["compression"], **changes}}
    lines = []
    out = run_executor(compressor, cfg, inputs, str(tmp / folder), Context(echo=lines.append))
    return out["compression"], lines


@pytest.fixture(scope="module")
def compressed(trained):
    """The Compressor on the trained model with the variants of ``SMALL``."""
    tmp, cfg, inputs = trained
    out, lines = compress(tmp, cfg, inputs, "compress")
    rows = {r["name"]: r for r in json.load(open(out.path("report.json")))["rows"]}
    return out, lines, rows


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn", "transformer"])
def test_the_tf_keras_twin_matches_every_architecture(kind):
    model = build_model({"type": kind, "units": 8, "layers": 2, "dropout": 0.1, "heads": 2,
                         "ff_units": 16}, (12, 3), "forecast", outputs=2)
    x = np.random.default_rng(0).normal(size=(8, 12, 3)).astype("float32")
    for batch in (1, None):
        twin, diff = twin_of(model, x, batch_size=batch)
        assert diff <= 1e-5
        assert twin.model.inputs[0].shape[0] == batch


def test_a_bidirectional_model_has_a_twin_and_other_layers_are_named():
    inputs = keras.Input((12, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), name="bi")(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="sum", name="bi2")(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    _, diff = twin_of(model, np.random.default_rng(1).normal(size=(4, 12, 3)).astype("float32"))
    assert diff <= 1e-5
    conv = keras.Sequential([keras.Input((12, 3)), keras.layers.Conv1D(4, 3, name="conv"),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
    with pytest.raises(TwinError, match="layer 'conv': no tf_keras twin for Conv1D"):
        build_twin(conv)


def test_a_trained_lstm_converts_to_the_fused_kernel_with_builtin_ops_only(compressed):
    out, _, rows = compressed
    for name in ("tflite_float32", "tflite_int8", "tflite_pruned_int8"):
        with open(out.path(rows[name]["path"]), "rb") as fh:
            ops = tflite_export.op_names(fh.read())
        assert ops == rows[name]["ops"]
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops
        assert "WHILE" not in ops and not [op for op in ops if op.startswith("CUSTOM:")]
        assert rows[name]["source"] == "tf_keras twin (batch 1)"


def test_a_transformer_converts_from_keras_3_with_builtin_ops_only():
    model = build_model({"type": "transformer", "units": 8, "layers": 1, "heads": 2, "ff_units": 16},
                        (12, 3), "forecast", outputs=2)
    flatbuffer = tflite_export.convert(model, "float32")
    ops = tflite_export.op_names(flatbuffer)
    assert "BATCH_MATMUL" in ops and "SOFTMAX" in ops
    assert not {"WHILE", "VAR_HANDLE", "READ_VARIABLE"} & set(ops)
    assert not [op for op in ops if op.startswith("CUSTOM:")]
    from ai_edge_litert.interpreter import Interpreter   # a signature to serve and call it by

    assert Interpreter(model_content=flatbuffer).get_signature_list() == {
        "serving_default": {"inputs": ["x"], "outputs": ["forecast"]}}


def test_stripped_names_leave_a_smaller_model_that_answers_the_same_by_its_signature():
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = build_model({"type": "lstm", "units": 8, "layers": 1, "dropout": 0.0}, (12, 3),
                        "forecast", outputs=2)
    twin, _ = twin_of(model, np.zeros((1, 12, 3), np.float32), batch_size=1)
    named = tf.lite.TFLiteConverter.from_keras_model(twin.model).convert()
    stripped = tflite_export.finish_flatbuffer(named)
    assert len(stripped) < len(named) - 500
    x = np.random.default_rng(0).normal(size=(1, 12, 3)).astype(np.float32)
    answers = []
    for flatbuffer in (named, stripped):
        runner = Interpreter(model_content=flatbuffer).get_signature_runner()
        answers.append(runner(**{next(iter(runner.get_input_details())): x}))
    assert list(answers[0]) == list(answers[1])
    np.testing.assert_array_equal(*[next(iter(a.values())) for a in answers])


def test_flex_and_custom_ops_are_refused_and_while_loops_get_no_full_integer():
    with pytest.raises(tflite_export.ConversionError, match="CUSTOM:FlexMatMul"):
        tflite_export.check_builtin_only(["ADD", "CUSTOM:FlexMatMul"])
    assert "WHILE loop" in tflite_export.full_integer_blocker(["WHILE", "ADD"])
    assert tflite_export.full_integer_blocker(["UNIDIRECTIONAL_SEQUENCE_LSTM"]) is None


def test_the_compressor_scores_every_variant_in_its_runtime_and_chooses_within_budget(trained, compressed):
    _, _, inputs = trained
    out, lines, rows = compressed
    report = json.load(open(out.path("report.json")))
    assert list(rows) == ["float32", "float16", "tflite_float32", "tflite_int8", "tflite_pruned_int8"]
    assert all(r["status"] == "ok" for r in rows.values()), [r["note"] for r in rows.values()]
    # the float32 SavedModel scores what the Evaluator scored on the same windows
    evaluated = inputs["evaluation"].properties["metrics"]["model"]
    assert rows["float32"]["metrics"]["mae"] == pytest.approx(evaluated["mae"], rel=1e-5)
    int8 = rows["tflite_int8"]
    assert int8["tensors"]["input"]["dtype"] == "int8" and "quantization" in int8["tensors"]["input"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in int8["ops"]
    assert int8["size_bytes"] == os.path.getsize(out.path(int8["path"]))   # this tiny model's int8
    assert rows["tflite_pruned_int8"]["gzip_bytes"] < int8["gzip_bytes"]
    assert report["pruning"]["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert report["twin"]["trained"]["max_abs_diff"] <= 1e-5
    for row in rows.values():
        assert row["latency_p95_ms"] >= row["latency_p50_ms"] > 0 and row["throughput_b64"] > 0
        assert row["within_budget"] == (row["relative_loss"] <= 0.03 + 1e-9)
    edge = out.properties["selection"]["edge"]
    assert edge["variant"] in edge["within_budget"]
    assert any(line.startswith("tflite_int8: mae=") for line in lines)
    assert os.path.isfile(out.path("tradeoff.png")) and os.path.isfile(out.path("tradeoff.csv"))
    header = open(out.path("tradeoff.csv")).readline().strip().split(",")
    assert {"name", "mae", "mase", "size_bytes", "gzip_bytes", "latency_p50_ms"} <= set(header)
    meta = json.load(open(out.path("edge_metadata.json")))
    assert meta["variant"] == edge["variant"] and meta["preprocessing"]["center"]


def test_a_missed_budget_exports_the_float_models_and_says_so(trained):
    tmp, cfg, inputs = trained
    out, lines = compress(tmp, cfg, inputs, "compress_strict", variants=["tflite_int8"],
                          budget={"max_relative_mae_increase": 0.0})
    selection = out.properties["selection"]
    assert selection["gpu"] == {**selection["gpu"], "variant": "float32", "fallback": True}
    assert "no compressed gpu variant within budget" in selection["gpu"]["reason"]
    rows = {r["name"]: r for r in json.load(open(out.path("report.json")))["rows"]}
    int8_within = rows["tflite_int8"]["relative_loss"] <= 1e-9
    assert selection["edge"]["fallback"] == (not int8_within)
    if not int8_within:   # the int8 model lost accuracy: the edge gets the float model
        assert selection["edge"]["variant"] == "tflite_float32"
        assert f"tflite_int8 mae {rows['tflite_int8']['metrics']['mae']:.4g}" in selection["edge"]["reason"]
    assert any(line.startswith("gpu: FLOAT MODEL (budget missed)") for line in lines)
    serving, edge = tmp / "serving", tmp / "edge"
    push_cfg = {**cfg, "pusher": {**cfg["pusher"], "serving_dir": str(serving), "edge_dir": str(edge)}}
    pushed = run_executor(pusher, push_cfg, {**inputs, "compression": out}, str(tmp / "push"))
    assert pushed["pushed_model"].properties["version"] == 1
    gpu_meta = json.load(open(serving / "msft_test_gpu" / "1" / "assets.extra" / "seqline.json"))
    assert gpu_meta["variant"] == "float32" and gpu_meta["selection"]["fallback"]
    edge_meta = json.load(open(edge / "msft_test" / "1" / "metadata.json"))
    assert edge_meta["variant"] == selection["edge"]["variant"] and edge_meta["version"] == 1
    runner = LiteRTRunner(str(edge / "msft_test" / "1" / "model.tflite"))
    assert runner.tensor_spec()["input"]["shape"] == [1, 9, 2]   # lookback 10, log returns: 9 steps
    again = run_executor(pusher, push_cfg, {**inputs, "compression": out}, str(tmp / "push2"))
    assert again["pushed_model"].properties["version"] == 1   # same model: variants rewritten only
    assert sorted(os.listdir(serving / "msft_test")) == ["1"]


def test_nothing_is_compressed_for_an_unblessed_model_or_when_disabled(trained):
    tmp, cfg, inputs = trained
    out, lines = compress(tmp, cfg, inputs, "compress_off", enabled=False)
    assert out.properties["compressed"] is False and out.properties["selection"] == {}
    assert "compression.enabled is false" in lines[0]
    assert not os.path.exists(out.path("variants"))
    unblessed = Artifact("Blessing", str(tmp / "unblessed"), {"blessed": False})
    out, lines = compress(tmp, cfg, {**inputs, "blessing": unblessed}, "compress_unblessed")
    assert out.properties["compressed"] is False and "not blessed" in lines[0]


def test_litert_scores_every_row_of_an_lstm_as_a_new_sequence(tmp_path):
    """The fused LSTM keeps its state in variable tensors: the runner resets it per row."""
    keras.utils.set_random_seed(4)
    model = build_model({"type": "lstm", "units": 8, "layers": 1}, (12, 3), "forecast", outputs=2)
    x = np.random.default_rng(4).normal(size=(6, 12, 3)).astype("float32")
    twin, _ = twin_of(model, x)
    path = tmp_path / "lstm.tflite"
    path.write_bytes(tflite_export.convert(
        tflite_export.save_twin(twin.model, str(tmp_path / "twin")), "float32"))
    runner = LiteRTRunner(str(path))
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(runner.predict(x), expected, atol=1e-5)
    np.testing.assert_allclose(runner.predict(x[::-1]), expected[::-1], atol=1e-5)


@pytest.mark.parametrize("mode", ["float16", "int8"])
def test_a_masked_transformer_classifier_variant_saves_and_loads_as_itself(tmp_path, mode):
    """The Transformer block passes its dtype policy to its sub-layers and records which ones are
    quantized, so the gpu variants survive the .keras file the export reads."""
    from seqline.components.compression import serving_variants

    keras.utils.set_random_seed(6)
    model = build_model({"type": "transformer", "units": 8, "layers": 1, "heads": 2, "ff_units": 16,
                         "bidirectional": True}, (12, 3), "classify", outputs=3, masked=True)
    model.save(tmp_path / "model.keras")
    variant, _ = serving_variants.build(str(tmp_path / "model.keras"), mode)
    variant.save(tmp_path / "variant.keras")
    again = keras.saving.load_model(tmp_path / "variant.keras", compile=False)
    x = np.random.default_rng(6).normal(size=(4, 12, 3)).astype("float32")
    np.testing.assert_array_equal(again.predict(x, verbose=0), variant.predict(x, verbose=0))
    dtypes = {w.dtype for w in again.weights}
    assert ("int8" in dtypes) if mode == "int8" else ("float16" in dtypes)
    _, diff = twin_of(model, x, batch_size=None)   # mean over steps has a twin too (pruning)
    assert diff <= 1e-5


def test_the_forecast_evaluator_counts_the_windows_it_scores(trained):
    tmp, cfg, inputs = trained
    counters.reset()
    out = run_executor(evaluator, cfg, {k: inputs[k] for k in ("transformed_examples",
                                                               "transform_graph", "model")},
                       str(tmp / "eval_counted"))
    windows = out["evaluation"].properties["test_windows"]
    assert windows > 0 and counters.snapshot() == {"windows scored": windows}
