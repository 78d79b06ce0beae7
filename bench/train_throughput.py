#!/usr/bin/env python
"""Training throughput: the Trainer's input path + fit against a plain Keras ``fit`` on arrays.

For each architecture, in one process and with the same model, batch size, epochs, seed and data:

- **Trainer path**: ``seqline.components.trainer.fit_model`` (the Trainer's own code) on the task's
  ``tf.data`` datasets read from the Transform's TFRecords (interleave, cache, shuffle, batch,
  parse, prefetch), with the Trainer's callbacks (its per-epoch resumable checkpoint, early
  stopping) and validation on the eval split;
- **plain**: ``model.fit`` on NumPy arrays of the same train and eval examples.

Samples per second are train examples / the time of the fastest of epochs 2..N (epoch 1, which
traces the step functions and fills the cache, is shown separately), the best of ``--rounds``
fits per side, alternating Trainer and plain so both see the same background load. Target: Trainer / plain
>= 0.9.

Three modes:

    .venv/bin/python bench/train_throughput.py [--config CONFIG] [--epochs 6] [--types lstm,gru]
    .venv/bin/python bench/train_throughput.py --export-npz data.npz [--config CONFIG]
    KERAS_BACKEND=jax python bench/train_throughput.py --npz data.npz

``--export-npz`` runs ExampleGen and Transform and saves the train/eval arrays and the model and
training settings. ``--npz`` needs only ``keras`` and ``jax`` (or any Keras backend): it imports no
TensorFlow and, from this repository, only ``models/`` and ``components/training_state.py``
(keras-only by design, read from the source tree, not installed). There the Trainer path cannot be ``tf.data``; its stand-in streams
the same shuffled batches from a ``keras.utils.PyDataset`` with the Trainer's callbacks, against
the same plain in-memory ``fit``. Both modes print the same table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TARGET = 0.9
DEFAULT_CONFIG = os.path.join(ROOT, "examples", "stock_forecast", "pipeline.yaml")
ARCHITECTURES = ("simple_rnn", "lstm", "gru", "transformer")


def epoch_timer():
    """A Keras callback recording each epoch's wall time in ``seconds``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    return EpochTimer()


def rates(timer, n_train: int) -> tuple:
    """``(samples/s of the fastest of epochs 2.., first epoch seconds)``. As ``timeit`` takes the
    minimum: other processes on a shared machine only ever slow an epoch down, while a cost the
    Trainer pays every epoch (its checkpoint, say) is in the fastest epoch too."""
    return n_train / min(timer.seconds[1:]), timer.seconds[0]


def alternate(rounds: int, trainer, plain) -> tuple:
    """Run ``trainer`` and ``plain`` (each returning ``rates(...)``) in turn ``rounds`` times, so
    both sides see the same background load; each side's best samples/s, first round's epoch 1."""
    results = [(trainer(), plain()) for _ in range(rounds)]
    return tuple((max(r[side][0] for r in results), results[0][side][1]) for side in (0, 1))


def build(meta: dict, kind: str):
    """The benchmark's model for architecture ``kind``, compiled as the Trainer compiles it."""
    import keras

    from seqline.models import build_language_model, build_model

    keras.utils.set_random_seed(meta["seed"])
    cfg = {**meta["model"], "type": kind, "ensemble": None}
    if meta["task"] == "generate":
        model = build_language_model(cfg, meta["vocab_size"], name=kind)
    else:
        model = build_model(cfg, tuple(meta["input_shape"]), meta["task"], meta["outputs"], name=kind)
    model.compile(optimizer=keras.optimizers.Adam(meta["learning_rate"]), loss=meta["loss"])
    return model


def plain_fit(meta: dict, kind: str, arrays: dict, epochs: int) -> tuple:
    timer = epoch_timer()
    build(meta, kind).fit(arrays["x_train"], arrays["y_train"], batch_size=meta["batch_size"],
                          epochs=epochs, validation_data=(arrays["x_eval"], arrays["y_eval"]),
                          shuffle=True, verbose=0, callbacks=[timer])
    return rates(timer, len(arrays["x_train"]))


# --------------------------------------------------------------------------------------------
# With the project installed: the real Trainer path
# --------------------------------------------------------------------------------------------

def prepare(config: str, workdir: str) -> tuple:
    """Run ExampleGen and Transform for ``config`` under ``workdir``; return
    ``(cfg, task, transformed examples, meta, arrays)``."""
    import numpy as np

    from seqline.components.tasks import get_task
    from seqline.pipeline.config import load_config
    from seqline.pipeline.runner import run_pipeline

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
    cfg = load_config(config)
    cfg["pipeline_root"] = os.path.join(workdir, "pipeline")
    cfg["tuning"] = None
    result = run_pipeline(cfg, until="Transform", quiet=True)
    examples = result.artifacts[("Transform", "transformed_examples")]
    task = get_task(cfg["task"])
    training = {**cfg["training"], "shuffle_buffer": 1, "cache_in_memory": False}
    train, val = task.datasets(examples, training)
    arrays = {}
    for split, ds in (("train", train), ("eval", val)):
        if ds is None:
            raise SystemExit(f"{config}: the benchmark needs an eval split (data.split.eval > 0)")
        xs, ys = zip(*[(x, y) for x, y in ds.as_numpy_iterator()])
        arrays[f"x_{split}"], arrays[f"y_{split}"] = np.concatenate(xs), np.concatenate(ys)
    probe = task.build_model({**cfg["model"], "ensemble": None}, examples, "probe")
    meta = {"task": cfg["task"], "config": os.path.relpath(config, ROOT), "model": cfg["model"],
            "seed": cfg["training"]["seed"], "batch_size": cfg["training"]["batch_size"],
            "learning_rate": cfg["training"]["learning_rate"],
            "loss": task.compile_args(examples)["loss"], "input_shape": list(probe.input_shape[1:]),
            "outputs": int(probe.output_shape[-1]), "vocab_size": examples.properties.get("vocab_size")}
    return cfg, task, examples, meta, arrays


def trainer_fit(cfg, task, examples, kind: str, epochs: int, workdir: str) -> tuple:
    from seqline.components.trainer import fit_model

    timer = epoch_timer()
    backup = tempfile.mkdtemp(dir=workdir)
    train_cfg = {**cfg["training"], "early_stopping_patience": epochs}
    fit_model(task, examples, {**cfg["model"], "type": kind, "ensemble": None}, train_cfg, kind,
              [timer], epochs, backup=backup)
    return rates(timer, examples.properties["split_counts"]["train"])


def project_rows(args) -> tuple:
    with tempfile.TemporaryDirectory() as workdir:
        cfg, task, examples, meta, arrays = prepare(args.config, workdir)
        if args.export_npz:
            import numpy as np

            np.savez_compressed(args.export_npz, meta=json.dumps(meta), **arrays)
            print(f"wrote {args.export_npz}: {len(arrays['x_train'])} train and "
                  f"{len(arrays['x_eval'])} eval examples of {meta['config']}")
            return None, None, None
        rows = [(kind, *alternate(args.rounds,
                                  lambda: trainer_fit(cfg, task, examples, kind, args.epochs, workdir),
                                  lambda: plain_fit(meta, kind, arrays, args.epochs)))
                for kind in args.types]
        return rows, meta, "tf.data over the Transform's TFRecords, via seqline.components.trainer.fit_model"


# --------------------------------------------------------------------------------------------
# keras + jax only: arrays from the .npz
# --------------------------------------------------------------------------------------------

def streamed_fit(meta: dict, kind: str, arrays: dict, epochs: int, workdir: str) -> tuple:
    """The Trainer's fit without TensorFlow: shuffled batches streamed by a PyDataset, the
    Trainer's resumable checkpoint per epoch, early stopping, validation on the eval arrays."""
    import keras
    import numpy as np

    class ShuffledBatches(keras.utils.PyDataset):
        def __init__(self, x, y, batch_size, seed):
            super().__init__()
            self.x, self.y, self.batch_size = x, y, batch_size
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x))

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, i):
            pick = self.order[i * self.batch_size:(i + 1) * self.batch_size]
            return self.x[pick], self.y[pick]

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(self.x))

    from seqline.components.training_state import ResumableTraining   # keras + numpy only

    timer = epoch_timer()
    stop = keras.callbacks.EarlyStopping(patience=epochs, restore_best_weights=True)
    callbacks = [stop, ResumableTraining(tempfile.mkdtemp(dir=workdir), meta["seed"], stop), timer]
    data = ShuffledBatches(arrays["x_train"], arrays["y_train"], meta["batch_size"], meta["seed"])
    build(meta, kind).fit(data, epochs=epochs, validation_data=(arrays["x_eval"], arrays["y_eval"]),
                          verbose=0, callbacks=callbacks)
    return rates(timer, len(arrays["x_train"]))


def npz_rows(args) -> tuple:
    import numpy as np

    with np.load(args.npz) as loaded:
        arrays = {k: loaded[k] for k in ("x_train", "y_train", "x_eval", "y_eval")}
        meta = json.loads(str(loaded["meta"]))
    with tempfile.TemporaryDirectory() as workdir:
        rows = [(kind, *alternate(args.rounds,
                                  lambda: streamed_fit(meta, kind, arrays, args.epochs, workdir),
                                  lambda: plain_fit(meta, kind, arrays, args.epochs)))
                for kind in args.types]
    return rows, meta, "keras.utils.PyDataset over the .npz arrays (no TensorFlow installed)"


# --------------------------------------------------------------------------------------------

def print_table(rows, meta, source: str, epochs: int, rounds: int) -> None:
    import keras

    print(f"\ntraining throughput: {meta['config']} ({meta['task']}), batch {meta['batch_size']}, "
          f"{epochs} epochs, Keras {keras.__version__} on {keras.backend.backend()}")
    print(f"Trainer path input: {source}")
    print(f"{'architecture':<13}{'Trainer samples/s':>19}{'plain samples/s':>17}{'ratio':>8}"
          f"{'':>6}{'1st epoch Trainer s':>21}{'plain s':>9}")
    for kind, (trainer_rate, trainer_first), (plain_rate, plain_first) in rows:
        ratio = trainer_rate / plain_rate
        verdict = "PASS" if ratio >= TARGET else "MISS"
        print(f"{kind:<13}{trainer_rate:>19.0f}{plain_rate:>17.0f}{ratio:>7.2f}x{verdict:>6}"
              f"{trainer_first:>21.2f}{plain_first:>9.2f}")
    print(f"target: Trainer / plain >= {TARGET}x (samples/s in the fastest of epochs 2..{epochs}, "
          f"best of {rounds} alternating fits per side)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="pipeline config (project mode)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per fit (>= 2; default 6)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="Trainer/plain fits alternated per architecture; best of each side")
    parser.add_argument("--types", default=",".join(ARCHITECTURES),
                        help="comma-separated architectures (default: all four)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--export-npz", metavar="FILE", help="write the data and settings, then stop")
    mode.add_argument("--npz", metavar="FILE", help="read FILE; needs only keras and a backend")
    args = parser.parse_args(argv)
    args.types = [t for t in args.types.split(",") if t]
    unknown = set(args.types) - set(ARCHITECTURES)
    if unknown or args.epochs < 2 or args.rounds < 1:
        parser.error(f"--types must name {', '.join(ARCHITECTURES)}; --epochs must be >= 2; "
                     "--rounds >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=UserWarning)   # Keras' notes on tf.data inputs
    rows, meta, source = npz_rows(args) if args.npz else project_rows(args)
    if rows is not None:
        print_table(rows, meta, source, args.epochs, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
