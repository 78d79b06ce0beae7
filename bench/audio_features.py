#!/usr/bin/env python
"""How fast are speech features and training on this machine (2 CPU cores)?

1. **Feature extraction** as a multiple of real time (seconds of audio per second of wall time):
   the pipeline's ``tf.signal`` log-mel (:class:`seqline.components.tasks.speech.features.FeatureExtractor`,
   one clip per call as the Transform's Beam workers do) against a plain NumPy log-mel (framing,
   ``np.fft.rfft``, the same mel matrix) on the same clips; both must agree.
2. **Waveform augmentation's cost**: one pass over the train clips through the Trainer's input
   with the example's ``transform.waveform_augment`` (augment, then compute the features) against
   the same input reading the Transform's features, in wall and CPU seconds.
3. **Training time per epoch** of the example's model (``examples/speech_digits/pipeline.yaml``) on
   the clips' transformed examples, through the Trainer's tf.data input (length buckets, waveform
   augmentation as configured) against a plain ``model.fit`` on in-memory arrays padded to the
   longest clip, and against the Trainer's input without waveform augmentation; the ratios and a
   projection to the example's train split and epochs.

Usage:
    .venv/bin/python bench/audio_features.py [--corpus examples/speech_digits/data] [--clips 400]
                                             [--epochs 3]

Without ``--corpus`` (or if it does not exist) it synthesizes the clips with espeak-ng first.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONFIG = os.path.join(ROOT, "examples", "speech_digits", "pipeline.yaml")


def _clips(corpus: str, n: int, tmp: str) -> str:
    """A manifest of ``n`` clips: the first ``n`` of ``corpus``, or freshly synthesized ones."""
    if not os.path.isfile(os.path.join(corpus, "manifest.csv")):
        from seqline.corpora.spoken_digits import generate

        print(f"{corpus} has no manifest.csv: synthesizing {n} clips ...", flush=True)
        corpus = os.path.join(tmp, "corpus")
        generate(corpus, n, seed=1)
    with open(os.path.join(corpus, "manifest.csv"), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:n]
    path = os.path.join(tmp, "manifest.csv")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "path": os.path.join(os.path.abspath(corpus), row["path"])})
    return path


def numpy_log_mel(samples, p, mel):
    """The same log-mel as the pipeline, in NumPy (the baseline)."""
    import numpy as np

    from seqline.components.tasks.speech.features import LOG_FLOOR

    frames = -(-len(samples) // p.frame_step)
    padded = np.zeros((frames - 1) * p.frame_step + p.frame_length, np.float32)
    padded[:len(samples)] = samples
    index = np.arange(p.frame_length)[None, :] + p.frame_step * np.arange(frames)[:, None]
    window = np.hanning(p.frame_length + 1)[:-1].astype(np.float32)   # periodic Hann, as tf.signal
    power = np.abs(np.fft.rfft(padded[index] * window, p.fft_length)) ** 2
    return np.log(power @ mel + LOG_FLOOR)


def bench_features(manifest: str, cfg: dict) -> None:
    import numpy as np

    from seqline.components.tasks.speech.features import FeatureExtractor, FeatureParams
    from seqline.components.tasks.speech.audio_io import load_clip

    with open(manifest, newline="", encoding="utf-8") as fh:
        waves = [load_clip(r["path"], cfg["data"]["sample_rate"]) for r in csv.DictReader(fh)]
    t = cfg["transform"]
    p = FeatureParams(cfg["data"]["sample_rate"], t["features"], t["n_mels"], t["n_mfcc"],
                      t["frame_ms"], t["hop_ms"], t["fmin"], t["fmax"])
    extractor = FeatureExtractor(p)
    mel = extractor.mel.numpy()
    extractor.extract(waves[0])
    numpy_log_mel(waves[0], p, mel)
    audio = sum(len(w) for w in waves) / p.sample_rate
    started = time.perf_counter()
    graph = [extractor.extract(w).numpy() for w in waves]
    tf_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = [numpy_log_mel(w, p, mel) for w in waves]
    np_seconds = time.perf_counter() - started
    diff = max(float(np.abs(a - b).max()) for a, b in zip(graph, plain))
    print(f"\nFeature extraction ({p.features}, {p.n_features} channels, {len(waves)} clips, "
          f"{audio / 60:.1f} min of audio)")
    print(f"  tf.signal (pipeline)  {tf_seconds:7.2f} s   {audio / tf_seconds:8.0f}x real time")
    print(f"  NumPy (baseline)      {np_seconds:7.2f} s   {audio / np_seconds:8.0f}x real time")
    print(f"  ratio pipeline / baseline time: {tf_seconds / np_seconds:.2f}  "
          f"(max abs difference {diff:.1e})")


def bench_augmentation(examples, cfg: dict) -> None:
    from seqline.components.split_io import split_pattern
    from seqline.components.tasks.speech.data import make_dataset

    props, batch = examples.properties, cfg["training"]["batch_size"]
    if not props["waveform_augment"]:
        print("\nWaveform augmentation: off in this config (transform.waveform_augment)")
        return
    pattern = split_pattern(examples.uri, "train")

    def one_pass(augment):
        ds = make_dataset(pattern, props, batch, waveform_augment=augment)
        wall, cpu = time.perf_counter(), time.process_time()
        clips = sum(int(x["lengths"].shape[0]) for x, _ in ds)
        return clips, time.perf_counter() - wall, time.process_time() - cpu

    one_pass(props["waveform_augment"])   # traced once
    clips, aug_wall, aug_cpu = one_pass(props["waveform_augment"])
    _, plain_wall, plain_cpu = one_pass(None)
    print(f"\nWaveform augmentation in the Trainer's input ({clips} train clips, one pass)")
    print(f"  augmented, features computed  {aug_wall:6.2f} s wall  {aug_cpu:6.2f} s CPU")
    print(f"  stored features (baseline)    {plain_wall:6.2f} s wall  {plain_cpu:6.2f} s CPU")
    print(f"  ratio augmented / stored: {aug_wall / plain_wall:.1f}x wall, {aug_cpu / plain_cpu:.1f}x CPU; "
          f"{1000 * (aug_cpu - plain_cpu) / clips:.1f} ms CPU per clip per epoch")


def bench_training(cfg: dict, epochs: int, tmp: str) -> None:
    import keras
    import numpy as np

    from seqline.components import example_gen, transform
    from seqline.components.split_io import split_pattern
    from seqline.components.tasks import get_task
    from seqline.components.tasks.speech.data import make_dataset
    from tests.forecast_fixtures import run_executor

    gen = run_executor(example_gen, cfg, {}, os.path.join(tmp, "gen"))
    out = run_executor(transform, cfg, {"examples": gen["examples"]}, os.path.join(tmp, "tf"))
    examples = out["transformed_examples"]
    bench_augmentation(examples, cfg)
    task = get_task("asr")
    train_cfg = cfg["training"]
    n = examples.properties["split_counts"]["train"]

    def fit(data):
        keras.utils.set_random_seed(train_cfg["seed"])
        model = task.build_model(cfg["model"], examples, "bench")
        model.compile(optimizer=keras.optimizers.Adam(train_cfg["learning_rate"]),
                      **task.compile_args(examples))
        times = []
        for _ in range(epochs):
            started = time.perf_counter()
            if isinstance(data, tuple):
                model.fit(*data, batch_size=train_cfg["batch_size"], epochs=1, verbose=0)
            else:
                model.fit(data, epochs=1, verbose=0)
            times.append(time.perf_counter() - started)
        return times

    pipeline = fit(task.datasets(examples, train_cfg)[0])
    unaugmented = fit(make_dataset(split_pattern(examples.uri, "train"), examples.properties,
                                   train_cfg["batch_size"], shuffle=True, seed=train_cfg["seed"],
                                   augment=examples.properties["spec_augment"]))
    batches = list(make_dataset(split_pattern(examples.uri, "train"), examples.properties, 256))
    longest = max(x["features"].shape[1] for x, _ in batches)
    feats = np.concatenate([np.pad(np.asarray(x["features"]),
                                   ((0, 0), (0, longest - x["features"].shape[1]), (0, 0)))
                            for x, _ in batches])
    lengths = np.concatenate([np.asarray(x["lengths"]) for x, _ in batches])
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    plain = fit(({"features": feats, "lengths": lengths}, labels))
    steady_p, steady_b = np.mean(pipeline[1:] or pipeline), np.mean(plain[1:] or plain)
    steady_u = np.mean(unaugmented[1:] or unaugmented)
    full = 0.9 * 0.86 * 6000     # the example's train clips: 90% of the 86% not held out
    example_epochs = train_cfg["epochs"]
    print(f"\nTraining ({cfg['model']['type']} x{cfg['model']['layers']}, "
          f"{cfg['model']['units']} units, {n} clips, batch {train_cfg['batch_size']})")
    print("  epoch seconds (the first includes tracing and XLA compilation):")
    print(f"  pipeline tf.data (buckets)   {', '.join(f'{t:.1f}' for t in pipeline)}")
    print(f"  ... without waveform augm.   {', '.join(f'{t:.1f}' for t in unaugmented)}")
    print(f"  plain fit, padded arrays     {', '.join(f'{t:.1f}' for t in plain)}")
    print(f"  ratio pipeline / plain (steady epochs): {steady_p / steady_b:.2f}; "
          f"with / without waveform augmentation: {steady_p / steady_u:.2f}")
    print(f"  per 1000 clips: {1000 * steady_p / n:.1f} s/epoch; the example's ~{full:.0f} train "
          f"clips x {example_epochs} epochs: ~{steady_p / n * full * example_epochs / 60:.1f} min "
          "of training (budget: 20 min for the whole run)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=os.path.join(ROOT, "examples", "speech_digits", "data"))
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    import yaml

    from seqline.pipeline.config import validate_config

    with open(CONFIG, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _clips(args.corpus, args.clips, tmp)
        raw["data"] = {**raw["data"], "path": manifest, "test_speakers": None,
                       "split": {"train": 0.9, "eval": 0.05, "test": 0.05}}
        raw["pipeline_root"] = os.path.join(tmp, "pipeline")
        cfg = validate_config(raw, base_dir=tmp)
        bench_features(manifest, cfg)
        bench_training(cfg, args.epochs, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
