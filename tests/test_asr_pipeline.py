"""The speech pipeline on a small generated corpus (its held-out clips also through a telephone
line and noise) with broken files mixed in: quarantine, speaker split, graph vs Beam features,
waveform augmentation in the Trainer's input, a tiny end-to-end run by the CLI scored per channel,
the exported model serving a WAV that is not in the corpus from a fresh process, and an 8 kHz
model transcribing a folder of 8 kHz WAVs.

A 2-epoch model on a few dozen clips cannot transcribe anything yet, so these tests check the
mechanics and that every figure is computed consistently (the Evaluator's transcripts are the
exported model's), not accuracy; examples/speech_digits is where accuracy is measured.
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf
import yaml

from seqline.components import evaluator, example_gen, statistics_gen
from seqline.components.split_io import SPLITS, split_pattern
from seqline.components.tasks.speech import features as audio_features
from seqline.components.tasks.speech.data import load_audio, make_dataset
from seqline.components.tasks.speech.text import error_rates
from seqline.components.tasks.speech.codec import decode
from seqline.components.tasks.speech.audio_io import write_wav
from seqline.corpora.spoken_digits import generate, synthesize
from seqline.pipeline import counters
from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.config import load_config, validate_config
from seqline.pipeline.runner import latest_execution, run_pipeline
from seqline.serving import servables
from tests.forecast_fixtures import run_executor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_SPEAKERS = ["*+m3", "*+f4", "*+klatt3", "*+Andy", "*+steph", "*+edward"]
BAD = {  # manifest path -> the start of its quarantine reason
    "bad/truncated.wav": "truncated.wav: corrupt WAV",
    "bad/missing.wav": "missing.wav: file not found",
    "bad/empty.wav": "empty.wav: empty file (0 bytes)",
    "bad/clip.mp3": "clip.mp3: unsupported format '.mp3'",
    "bad/long.wav": "long.wav: too long: 12.0 s",
}
CONFIG = {
    "name": "digits_test", "task": "asr", "pipeline_root": "output/pipeline",
    "data": {"path": "corpus/manifest.csv", "max_seconds": 10.0, "max_bad_fraction": 0.3,
             "split": {"train": 0.85, "eval": 0.15, "test": 0.0}, "test_speakers": TEST_SPEAKERS,
             "condition_columns": ["channel"]},
    "transform": {"n_mels": 24, "spec_augment": {"freq_masks": 1, "time_masks": 1}},
    "model": {"type": "gru", "units": 16, "layers": 1, "conv_filters": 16, "decoder": "beam_search",
              "beam_width": 4},
    "training": {"epochs": 2, "batch_size": 8},
    "evaluation": {"worst_errors": 5, "blessing": {"must_beat_baseline": False}},
    "compression": {"variants": ["float32", "float16", "tflite_float32", "tflite_dynamic_int8",
                                 "tflite_int8"], "latency_runs": 10, "max_test_clips": 8},
    "pusher": {"serving_dir": "output/serving", "edge_dir": "output/edge"},
}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """40 generated clips (with telephone and noisy copies of the held-out ones) plus a FLAC copy
    at 22.05 kHz (good) and broken entries (bad)."""
    tmp = tmp_path_factory.mktemp("asr")
    root = tmp / "corpus"
    generate(str(root), 40, seed=11, channels=("telephone", "noisy"))
    rows = read_csv(root / "manifest.csv")
    os.makedirs(root / "bad")
    first = (root / rows[0]["path"]).read_bytes()
    (root / "bad" / "truncated.wav").write_bytes(first[: len(first) // 2])
    (root / "bad" / "empty.wav").write_bytes(b"")
    (root / "bad" / "clip.mp3").write_bytes(first)
    write_wav(str(root / "bad" / "long.wav"), np.full(16000 * 12, 0.1, np.float32), 16000)
    samples, _ = soundfile.read(root / rows[1]["path"], dtype="float32")
    from seqline.components.tasks.speech.audio_io import resample
    soundfile.write(root / "copy.flac", resample(samples, 16000, 22050), 22050)
    extra = [{"path": p, "transcript": "one two three", "speaker": rows[2]["speaker"], "duration": "",
              "channel": "clean"} for p in BAD]
    extra.append({"path": "copy.flac", "transcript": rows[1]["transcript"],
                  "speaker": rows[1]["speaker"], "duration": "", "channel": ""})
    extra.append({"path": rows[3]["path"], "transcript": "  ", "speaker": rows[3]["speaker"],
                  "duration": "", "channel": "clean"})
    with open(root / "manifest.csv", "a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, list(rows[0])).writerows(extra)
    with open(tmp / "pipeline.yaml", "w") as fh:
        yaml.safe_dump(CONFIG, fh)
    return tmp, rows


@pytest.fixture(scope="module")
def generated(corpus):
    tmp, rows = corpus
    cfg = validate_config(CONFIG, base_dir=str(tmp))
    return rows, run_executor(example_gen, cfg, {}, str(tmp / "gen"))


def test_broken_clips_go_to_quarantine_with_their_reason(generated):
    rows, out = generated
    quarantined = read_csv(out["quarantine"].path("quarantine.csv"))
    reasons = {r["raw"].split(",")[0]: r["reason"] for r in quarantined}
    for path, reason in BAD.items():
        assert reasons[path].startswith(reason), reasons[path]
    assert "empty transcript" in reasons[rows[3]["path"]]
    assert all(r["file"] == "manifest.csv" and int(r["row"]) > 1 for r in quarantined)
    assert out["quarantine"].properties["count"] == len(BAD) + 1


def test_every_good_clip_lands_in_one_split_by_speaker(generated):
    rows, out = generated
    examples = out["examples"]
    clips = {s: [decode(r.numpy()) for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(split_pattern(examples.uri, s)), compression_type="GZIP")] for s in SPLITS}
    kept = [c for s in SPLITS for c in clips[s]]
    assert len(kept) == len(rows) + 1               # the generated clips and the FLAC copy
    speakers = {s: {c.speaker for c in clips[s]} for s in SPLITS}
    assert not speakers["train"] & speakers["test"] and not speakers["eval"] & speakers["test"]
    assert all(c.speaker.split("+")[1] in {"m3", "f4", "klatt3", "Andy", "steph", "edward"}
               for c in clips["test"])
    assert not speakers["train"] & speakers["eval"]
    flac = [c for c in kept if c.path == "copy.flac"][0]
    original = soundfile.read(os.path.join(os.path.dirname(examples.properties["source"]),
                                           rows[1]["path"]), dtype="float32")[0]
    assert flac.sample_rate == 16000 and abs(len(flac.samples) - len(original)) <= 1
    n = min(len(original), len(flac.samples))
    assert np.corrcoef(flac.samples[:n], original[:n])[0, 1] > 0.99   # resampled there and back


def test_log_mel_of_a_tone_peaks_in_its_mel_channel():
    p = audio_features.FeatureParams(sample_rate=16000, n_mels=40)
    tone = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    features = audio_features.FeatureExtractor(p).extract(tone).numpy()
    assert features.shape == (100, 40)
    mel = tf.signal.linear_to_mel_weight_matrix(40, p.fft_length // 2 + 1, 16000, p.fmin, 8000).numpy()
    bin_1khz = round(1000 * p.fft_length / 16000)
    assert features[50].argmax() == mel[bin_1khz].argmax()


# --- the tiny end-to-end run ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(corpus):
    tmp, rows = corpus
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "seqline", "run", "pipeline.yaml"], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    root = str(tmp / "output" / "pipeline")
    outputs = {stage: latest_execution(root, stage) for stage in
               ("ExampleGen", "Transform", "Trainer", "Evaluator", "Pusher")}
    return tmp, rows, outputs, done.stdout


def test_cli_run_completes_with_the_broken_clips_quarantined(run):
    _, _, outputs, stdout = run
    rows = run[1]
    assert {r["channel"] for r in rows} == {"clean", "telephone", "noisy"}
    assert f"{len(BAD) + 1} of {len(rows) + len(BAD) + 2} clips quarantined" in stdout
    assert "epoch 2/2" in stdout and "exported version 1" in stdout
    quarantine = Artifact.load(os.path.join(outputs["ExampleGen"], "quarantine"))
    assert quarantine.properties["count"] == len(BAD) + 1


def test_exported_graph_reproduces_the_beam_features(run):
    _, _, outputs, _ = run
    transformed = Artifact.load(os.path.join(outputs["Transform"], "transformed_examples"))
    graph = tf.saved_model.load(os.path.join(outputs["Transform"], "transform_graph", "graph"))
    spec = {"features": tf.io.FixedLenFeature([], tf.string), "frames": tf.io.FixedLenFeature([], tf.int64)}
    files = tf.io.gfile.glob(split_pattern(transformed.uri, "test"))
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP"))
    waves = [wave for _, wave in load_audio(split_pattern(transformed.uri, "test"))]
    assert len(records) == len(waves) == transformed.properties["split_counts"]["test"] > 0
    for record, wave in zip(records, waves):
        ex = tf.io.parse_single_example(record, spec)
        stored = np.frombuffer(ex["features"].numpy(), "<f4").reshape(-1, 24)
        assert len(stored) == int(ex["frames"]) == -(-len(wave) // 160)
        np.testing.assert_allclose(graph.features(wave).numpy(), stored, atol=1e-4)


def test_normalization_statistics_come_from_the_train_split(run):
    _, _, outputs, _ = run
    examples = Artifact.load(os.path.join(outputs["ExampleGen"], "examples"))
    with open(os.path.join(outputs["Transform"], "transform_graph", "params.json")) as fh:
        params = json.load(fh)
    p = audio_features.FeatureParams(**{k: params[k] for k in (
        "sample_rate", "features", "n_mels", "n_mfcc", "frame_ms", "hop_ms", "fmin", "fmax")})
    extractor = audio_features.FeatureExtractor(p)

    def frames(split):
        files = tf.io.gfile.glob(split_pattern(examples.uri, split))
        return np.concatenate([extractor.extract(decode(r.numpy()).samples).numpy()
                               for r in tf.data.TFRecordDataset(files, compression_type="GZIP")])

    train = frames("train")
    np.testing.assert_allclose(params["mean"], train.mean(0), atol=1e-3)
    np.testing.assert_allclose(params["std"], train.std(0), rtol=1e-3)
    assert np.abs(frames("test").mean(0) - train.mean(0)).max() > 1e-3   # a leak would show
    transcripts = [decode(r.numpy()).transcript for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(split_pattern(examples.uri, "train")), compression_type="GZIP")]
    assert params["vocabulary"] == sorted(set("".join(transcripts)))


def test_spec_augment_masks_repeat_for_one_seed_and_change_every_epoch(run):
    _, _, outputs, _ = run
    transformed = Artifact.load(os.path.join(outputs["Transform"], "transformed_examples"))
    props, pattern = transformed.properties, split_pattern(transformed.uri, "train")

    def epochs(augment, shuffle=True):
        ds = make_dataset(pattern, props, 8, shuffle=shuffle, seed=3, augment=augment)
        return [np.concatenate([x["features"].numpy().reshape(-1) for x, _ in ds])
                for _ in range(2)]

    masked, again, plain = epochs(props["spec_augment"]), epochs(props["spec_augment"]), epochs(None)
    for epoch in range(2):
        np.testing.assert_array_equal(masked[epoch], again[epoch])   # same seed, same masks
        changed = masked[epoch] != plain[epoch]   # same clips in the same order, some masked
        assert changed.any() and np.all(masked[epoch][changed] == 0)
    in_file_order = epochs(props["spec_augment"], shuffle=False)
    assert not np.array_equal(in_file_order[0], in_file_order[1])   # new masks each epoch


def clips_of(ds):
    """The valid frames of each clip of a batched dataset, in its order."""
    return [f[:n] for x, _ in ds for f, n in zip(x["features"].numpy(), x["lengths"].numpy())]


def test_waveform_augmentation_is_seeded_new_each_epoch_and_on_train_clips_only(run):
    from seqline.components.tasks.speech.task import AsrTask

    _, _, outputs, _ = run
    transformed = Artifact.load(os.path.join(outputs["Transform"], "transformed_examples"))
    props = transformed.properties
    augment = props["waveform_augment"]             # the defaults: on
    assert augment["speeds"] == [0.9, 1.0, 1.1] and augment["noise_prob"] > 0
    pattern = split_pattern(transformed.uri, "train")
    stored = clips_of(make_dataset(pattern, props, 8))

    def epochs(cfg, seed=3):
        ds = make_dataset(pattern, props, 8, seed=seed, waveform_augment=cfg)
        return [clips_of(ds) for _ in range(2)]

    def same(a, b):
        return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

    first, again, other = epochs(augment), epochs(augment), epochs(augment, seed=4)
    assert same(first[0], again[0]) and same(first[1], again[1])   # seeded
    assert not same(first[0], first[1]) and not same(first[0], other[0])   # new each epoch
    assert not same(first[0], stored) and len(first[0]) == len(stored)
    assert {len(a) for a in first[0]} != {len(a) for a in stored}   # speed changes lengths
    # with every augmentation off, the features computed in tf.data are the Transform's
    off = {**augment, "speeds": [1.0], "gain_db": 0.0, "noise_prob": 0.0, "reverb_prob": 0.0,
           "telephone_prob": 0.0, "codec_prob": 0.0}
    plain = epochs(off)[0]
    assert len(plain) == len(stored)
    for a, b in zip(plain, stored):
        np.testing.assert_allclose(a, b, atol=1e-3)
    # the Trainer's datasets: the train split augmented, the eval split as the Transform wrote it
    training = load_config(str(run[0] / "pipeline.yaml"))["training"]
    train, val = AsrTask().datasets(transformed, training)
    eval_stored = clips_of(make_dataset(split_pattern(transformed.uri, "eval"), props, 8))
    assert same(clips_of(val), eval_stored)
    assert sum(len(c) for c in clips_of(train)) != sum(len(c) for c in stored)


def test_evaluation_reports_cer_and_wer_next_to_the_baseline(run):
    tmp, _, outputs, stdout = run
    evaluation = Artifact.load(os.path.join(outputs["Evaluator"], "evaluation"))
    metrics = evaluation.properties["metrics"]
    assert {"model", "greedy", "beam_search", "baseline"} <= set(metrics)
    rows = read_csv(evaluation.path("transcripts.csv"))
    refs, hyps = [r["reference"] for r in rows], [r["hypothesis"] for r in rows]
    assert metrics["model"] == error_rates(refs, hyps) == metrics["beam_search"]
    with open(os.path.join(outputs["Transform"], "transform_graph", "params.json")) as fh:
        baseline = json.load(fh)["most_frequent_transcript"]
    assert metrics["baseline"] == error_rates(refs, [baseline] * len(refs))
    assert 0 < metrics["baseline"]["cer"] < 1.5
    assert "baseline (most frequent train transcript" in stdout
    for name in ("cer_by_speaker.png", "example.png", "worst_errors.csv"):
        assert os.path.isfile(evaluation.path(name))
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("digits_test").experiment_id],
                              "tags.`seqline.component` = 'Evaluator'")
    files = {f.path for f in client.list_artifacts(runs[0].info.run_id)}
    assert {"worst_errors.txt", "cer_by_speaker.png", "transcripts.csv"} <= files
    assert runs[0].data.metrics["baseline_cer"] == pytest.approx(metrics["baseline"]["cer"])


def test_test_clips_are_scored_per_channel_worst_first_in_a_table_a_plot_and_mlflow(run):
    from seqline.components.tasks.speech.groups import BLANK, group_table, metric_name

    tmp, _, outputs, stdout = run
    evaluation = Artifact.load(os.path.join(outputs["Evaluator"], "evaluation"))
    rows = read_csv(evaluation.path("transcripts.csv"))
    channels = {r["channel"] or BLANK for r in rows}   # the FLAC copy has no channel: (blank)
    assert {"clean", "telephone", "noisy"} <= channels <= {"clean", "telephone", "noisy", BLANK}
    per_clip = [{**r, "char_errors": int(r["char_errors"]), "word_errors": int(r["word_errors"])}
                for r in rows]
    table = read_csv(evaluation.path("error_by_group.csv"))
    assert [(r["column"], r["group"]) for r in table] == [
        (r["column"], r["group"]) for r in group_table(per_clip, ["speaker", "channel"])]
    with open(evaluation.path("metrics.json")) as fh:
        by_channel = json.load(fh)["by_condition"]["channel"]
    assert set(by_channel) == channels
    for channel, scores in by_channel.items():
        mine = [r for r in rows if (r["channel"] or BLANK) == channel]
        expected = error_rates([r["reference"] for r in mine], [r["hypothesis"] for r in mine])
        assert scores["clips"] == len(mine)
        assert scores["cer"] == pytest.approx(expected["cer"]) and scores["wer"] == pytest.approx(expected["wer"])
    for column in ("speaker", "channel"):
        part = [(float(r["cer"]), float(r["wer"])) for r in table if r["column"] == column]
        assert part == sorted(part, reverse=True)                        # worst first
    listed = stdout.split("test CER/WER by channel, worst first:")[1].splitlines()[2:2 + len(channels)]
    order = sorted(by_channel, key=lambda c: (-by_channel[c]["cer"], -by_channel[c]["wer"], c))
    assert [line.split()[0] for line in listed] == order
    assert os.path.isfile(evaluation.path("cer_by_channel.png"))
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("digits_test").experiment_id],
                              "tags.`seqline.component` = 'Evaluator'")
    logged = runs[0].data.metrics
    assert logged["cer_by_channel/telephone"] == pytest.approx(by_channel["telephone"]["cer"])
    for channel, scores in by_channel.items():
        assert logged[metric_name("channel", channel, "cer")] == pytest.approx(scores["cer"])
        assert logged[metric_name("channel", channel, "wer")] == pytest.approx(scores["wer"])
    files = {f.path for f in client.list_artifacts(runs[0].info.run_id)}
    assert {"cer_by_channel.png", "error_by_group.csv"} <= files


SERVE_SCRIPT = r"""
import sys, json, soundfile, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = []
for path in sys.argv[2:]:
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate == 16000, rate
    out.append(serve(waveform=tf.constant(samples))["transcript"].numpy().decode())
print(json.dumps(out))
"""


def test_exported_model_transcribes_new_audio_in_a_fresh_process(run):
    tmp, rows, outputs, _ = run
    exported = tmp / "output" / "serving" / "digits_test" / "1"
    meta = json.loads((exported / "assets.extra" / "seqline.json").read_text())
    assert meta["inputs"]["waveform"]["sample_rate"] == 16000 and meta["decoder"] == "beam_search"
    samples, rate = synthesize(shutil.which("espeak-ng"), "nine eight seven", "en-us+m3", 150, 50, 2)
    from seqline.components.tasks.speech.audio_io import resample
    new_wav = str(tmp / "new.wav")                  # not in the corpus: a new clip of a test voice
    write_wav(new_wav, resample(samples, rate, 16000), 16000)
    evaluation = Artifact.load(os.path.join(outputs["Evaluator"], "evaluation"))
    scored = [r for r in read_csv(evaluation.path("transcripts.csv"))
              if r["path"].startswith("clips/")][:3]
    clips = [str(tmp / "corpus" / r["path"]) for r in scored]
    done = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, str(exported), new_wav, *clips],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(isinstance(t, str) for t in served)
    assert served[1:] == [r["hypothesis"] for r in scored]   # serving decodes as the Evaluator did
    env = {**os.environ, "PYTHONPATH": ROOT}
    cli = subprocess.run([sys.executable, "-m", "seqline", "transcribe",
                          str(tmp / "output" / "serving" / "digits_test"), new_wav],
                         env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert cli.stdout.splitlines()[-1] == served[0]
    bad = subprocess.run([sys.executable, "-m", "seqline", "transcribe", str(exported),
                          str(tmp / "corpus" / "bad" / "truncated.wav")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "truncated.wav: corrupt WAV" in bad.stderr
    phone = tmp / "phone"                          # a folder of 8 kHz clips, one in a subfolder
    (phone / "later").mkdir(parents=True)
    write_wav(str(phone / "a.wav"), resample(samples, rate, 8000), 8000)
    write_wav(str(phone / "later" / "b.wav"), resample(samples, rate, 8000), 8000)
    folder = subprocess.run([sys.executable, "-m", "seqline", "transcribe", str(exported),
                             str(phone)], env=env, capture_output=True, text=True, timeout=300)
    assert folder.returncode == 0, folder.stderr[-2000:]
    lines = [line.split("\t") for line in folder.stdout.splitlines()[-2:]]
    assert [file for file, _ in lines] == [str(phone / "a.wav"), str(phone / "later" / "b.wav")]
    assert lines[0][1] == lines[1][1]             # the same clip: resampled the same way
    (tmp / "empty").mkdir()
    empty = subprocess.run([sys.executable, "-m", "seqline", "transcribe", str(exported),
                            str(tmp / "empty")], env=env, capture_output=True, text=True, timeout=300)
    assert empty.returncode == 1 and "empty: no wav, flac, ogg files in this folder" in empty.stderr


def test_speech_variants_are_scored_on_the_test_clips_and_the_edge_network_takes_any_length(run):
    """Every variant gets CER/WER on the same clips (compression.max_test_clips of them, evenly
    spaced) in its own runtime; the edge network (frames of one clip, any length, builtin ops)
    matches the Keras model decoded the same way."""
    from seqline.components.tasks.speech.compression import greedy_text, scored_rows, split_arrays
    from seqline.models.ctc import load_ctc_model

    tmp, _, outputs, stdout = run
    root = str(tmp / "output" / "pipeline")
    compression = Artifact.load(os.path.join(latest_execution(root, "Compressor"), "compression"))
    with open(compression.path("report.json")) as fh:
        report = json.load(fh)
    rows = {r["name"]: r for r in report["rows"]}
    assert {n: r["status"] for n, r in rows.items()} == {
        "float32": "ok", "float16": "ok", "tflite_float32": "ok", "tflite_dynamic_int8": "ok",
        "tflite_int8": "skipped"}
    assert "WHILE loop" in rows["tflite_int8"]["note"]
    edge = rows["tflite_float32"]
    assert edge["tensors"]["input"]["shape"] == [1, -1, 24]
    assert "WHILE" in edge["ops"] and not [op for op in edge["ops"] if op.startswith("CUSTOM:")]

    graph = Artifact.load(os.path.join(outputs["Transform"], "transform_graph"))
    examples = Artifact.load(os.path.join(outputs["Transform"], "transformed_examples"))
    every = split_arrays(examples, graph, "test")
    test = scored_rows(every, {"max_test_clips": 8})
    assert report["test_rows"] == {"scored": 8, "of": len(every.x)} and len(every.x) > 8
    assert len(test.x) == len(test.serving["waveform"]) == len(test.extra["transcripts"]) == 8
    assert test.extra["transcripts"][0] == every.extra["transcripts"][0]
    assert test.extra["transcripts"][-1] == every.extra["transcripts"][-1]
    model = load_ctc_model(os.path.join(outputs["Trainer"], "model", "model.keras"))
    hyps = [greedy_text(model({"features": f[None], "lengths": np.array([len(f)])})[0],
                        test.extra["vocabulary"]) for f in test.x]
    assert edge["metrics"]["cer"] == pytest.approx(
        error_rates(test.extra["transcripts"], hyps)["cer"], abs=0.02)
    chosen = compression.properties["selection"]["edge"]["variant"]
    with open(tmp / "output" / "edge" / "digits_test" / "1" / "metadata.json") as fh:
        metadata = json.load(fh)
    assert metadata["variant"] == chosen and metadata["inputs"]["features"]["sample_rate"] == 16000
    assert set(metadata["label_map"].values()) == set(test.extra["vocabulary"])
    assert f"exported the edge variant {chosen}" in stdout
    # seqline serve answers with the edge network too
    served = servables.load(str(tmp / "output" / "edge" / "digits_test" / "1"), echo=lambda _: None)
    logits = served.signatures["serving_default"].predict({"features": test.x[0][None]})["logits"]
    assert logits.shape[0] == 1 and logits.shape[-1] == len(test.extra["vocabulary"]) + 1


def test_a_rerun_scores_the_pushed_champion_on_the_same_test_clips(run, monkeypatch):
    tmp, _, _, _ = run
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlruns/mlflow.db")
    result = run_pipeline(load_config(str(tmp / "pipeline.yaml")), start="Evaluator", quiet=True,
                          use_cache=False)   # cached, the Evaluator would not score itself again
    scores = result.artifacts[("Evaluator", "evaluation")].properties["metrics"]
    # the champion is this very model, served from its SavedModel on the raw test waveforms
    assert scores["champion"]["chars"] == scores["model"]["chars"]
    assert scores["champion"]["cer"] == pytest.approx(scores["model"]["cer"], abs=0.02)


def test_statistics_cover_every_clip_its_length_loudness_and_speaker(corpus, generated, tmp_path):
    """StatisticsGen reads the audio records through the task's view: one summary per clip."""
    rows, outputs = generated
    cfg = validate_config(CONFIG, base_dir=str(corpus[0]))
    stats = statistics_gen.load(run_executor(statistics_gen, cfg, {"examples": outputs["examples"]},
                                             str(tmp_path / "stats"))["statistics"])["all"]
    clips = outputs["examples"].properties["split_counts"]
    assert stats["num_examples"] == sum(clips.values()) == len(rows) + 1   # + the FLAC copy
    features = stats["features"]
    assert set(features) == {"seconds", "rms_dbfs", "peak", "transcript_chars"}
    durations = [float(r["duration"]) for r in rows]
    assert min(durations) - 0.01 <= features["seconds"]["min"]
    assert features["seconds"]["max"] <= max(durations) + 0.01
    assert -60 < features["rms_dbfs"]["mean"] < 0 and 0 < features["peak"]["max"] <= 1.0
    assert stats["series"]["count"] == len({r["speaker"] for r in rows})


def test_the_evaluator_counts_the_clips_it_transcribes(run):
    tmp, _, outputs, _ = run
    inputs = {name: Artifact.load(os.path.join(outputs[stage], name)) for stage, name in (
        ("Transform", "transformed_examples"), ("Transform", "transform_graph"),
        ("Trainer", "model"))}
    counters.reset()
    out = run_executor(evaluator, load_config(str(tmp / "pipeline.yaml")), inputs,
                       str(tmp / "eval_counted"))
    clips = out["evaluation"].properties["test_clips"]
    assert clips > 0 and counters.snapshot() == {"clips transcribed": clips}


# --- an 8 kHz model ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def narrowband(corpus):
    """The same corpus, resampled to 8 kHz by ExampleGen, through a run of the CLI."""
    tmp, rows = corpus
    folder = tmp / "rate8k"
    folder.mkdir()
    cfg = {**CONFIG, "name": "digits_8k", "data": {**CONFIG["data"], "path": "../corpus/manifest.csv",
                                                   "sample_rate": 8000},
           "compression": {"variants": ["float32"], "latency_runs": 10}}
    with open(folder / "pipeline.yaml", "w") as fh:
        yaml.safe_dump(cfg, fh)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "seqline", "run", "pipeline.yaml"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder, rows, latest_execution(str(folder / "output" / "pipeline"), "Evaluator")


def test_an_8khz_model_trains_and_transcribes_a_folder_of_8khz_wavs_as_it_was_evaluated(narrowband):
    from rapidfuzz.distance import Levenshtein

    from seqline.components.tasks.speech.audio_io import load_clip

    folder, rows, evaluator_dir = narrowband
    exported = folder / "output" / "serving" / "digits_8k" / "1"
    meta = json.loads((exported / "assets.extra" / "seqline.json").read_text())
    assert meta["inputs"]["waveform"]["sample_rate"] == 8000
    evaluation = Artifact.load(os.path.join(evaluator_dir, "evaluation"))
    scored = read_csv(evaluation.path("transcripts.csv"))[:4]
    phone = folder / "calls"                    # the test clips as 8 kHz WAVs, as a phone gives them
    phone.mkdir()
    for i, r in enumerate(scored):
        write_wav(str(phone / f"call{i}.wav"), load_clip(str(folder.parent / "corpus" / r["path"]), 8000), 8000)
        assert soundfile.info(str(phone / f"call{i}.wav")).samplerate == 8000
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-m", "seqline", "transcribe",
                           str(folder / "output" / "serving" / "digits_8k"), str(phone)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line.split("\t") for line in done.stdout.splitlines()[-len(scored):]]
    assert [file for file, _ in lines] == [str(phone / f"call{i}.wav") for i in range(len(scored))]
    # the WAV holds the clip as 16-bit PCM, so its samples differ from the Evaluator's by up to
    # one step: the same transcript, give or take a character or two of a barely trained model
    for (_, text), r in zip(lines, scored):
        assert Levenshtein.normalized_distance(text, r["hypothesis"]) <= 0.25, (text, r)
