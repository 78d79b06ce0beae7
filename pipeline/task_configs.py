"""The config sections each task adds (``data``, ``transform``, ``evaluation``) and its checks.

A task registers its sections in ``TASK_SECTIONS`` and a check in ``TASK_CHECKS``; the check runs
after the schema validation, with paths resolved, and raises a one-line ``ConfigError``.
"""
from __future__ import annotations

import csv
import glob
import os

from seqline.pipeline import spans
from seqline.pipeline.config_fields import COMMON, NUM, Section
from seqline.pipeline.config_fields import field_spec as _f
from seqline.pipeline.errors import ConfigError

OPTIONAL_STR = (str, type(None))
OPTIONAL_NUM = (int, float, type(None))


def split_section(train=0.8, eval_=0.1, test=0.1) -> Section:
    """Fractions of the data for train/eval/test."""
    return Section({"train": _f(NUM, train, minimum=0.0, maximum=1.0),
                    "eval": _f(NUM, eval_, minimum=0.0, maximum=1.0),
                    "test": _f(NUM, test, minimum=0.0, maximum=1.0)})


def span_section() -> Section:
    """Which spans of a ``{SPAN}`` / ``{YYYY}-{MM}-{DD}`` data path a run reads."""
    return Section({"latest": _f((int, type(None)), 1, minimum=1,
                                 help="the newest N spans (of the range); null: all of them"),
                    "first": _f((int, str, type(None)), None, help="first span of the range"),
                    "last": _f((int, str, type(None)), None, help="last span of the range")})


def data_file(data: dict) -> str:
    """The file whose header the config check reads: the newest selected span's first file,
    or ``data.path`` itself."""
    if not spans.is_pattern(data["path"]):
        return data["path"]
    return spans.resolve(data["path"], data["spans"])[1][-1]


def csv_header(key: str, path: str) -> list:
    """The stripped header of a CSV file, or a ConfigError naming ``key``."""
    if os.path.isdir(path):
        raise ConfigError(f"{key}: {path} is a folder; give a CSV file (or a pattern with "
                          "{SPAN} or {YYYY}-{MM}-{DD} for files arriving over time)")
    if not os.path.isfile(path):
        raise ConfigError(f"{key}: file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{key}: {path} line 1 (the header) is not UTF-8 text ({exc.reason}); "
                          "save it as UTF-8") from None
    except csv.Error as exc:
        raise ConfigError(f"{key}: {path} line 1 (the header) is not a CSV row ({exc})") from None
    if not header:
        raise ConfigError(f"{key}: {path} is empty (no header row)")
    return [h.strip() for h in header]


def require_columns(path: str, header: list, wanted: list) -> None:
    """Each ``(key, column)`` in ``wanted`` must be in ``header``."""
    for key, column in wanted:
        if column not in header:
            raise ConfigError(f"{key}: column '{column}' not in {path} (columns: {', '.join(header)})")


def compression_section(budget: dict, **task_keys) -> Section:
    """The ``compression`` section (components/compressor.py) with the task's ``budget`` keys and
    its own keys (``task_keys``)."""
    return Section({
        "enabled": _f(bool, True, help="false: export the float model only"),
        "targets": _f(list, ["gpu", "edge"], help="gpu (SavedModel) and/or edge (.tflite)"),
        "variants": _f((list, type(None)), None,
                       help="variant names to build (components/compression/catalog.py); null: all"),
        "calibration_samples": _f(int, 256, minimum=1,
                                  help="train windows that calibrate full-integer quantization"),
        "latency_runs": _f(int, 200, minimum=10, help="batch-1 calls timed per variant"),
        **task_keys,
        "pruning": Section({
            "target_sparsity": _f(NUM, 0.5, minimum=0.05, maximum=0.95),
            "epochs": _f(int, 2, minimum=1, help="fine-tune epochs on the train split"),
            "clusters": _f(int, 16, minimum=2, help="weight clusters per kernel (clustered variant)"),
        }),
        "budget": Section(budget),
    })


def check_compression(section: dict, key: str = "compression") -> None:
    """Targets and variant names must be known."""
    from seqline.components.compression.catalog import TARGETS, VARIANTS

    targets = section["targets"]
    if not targets or any(t not in TARGETS for t in targets):
        raise ConfigError(f"{key}.targets: expected a non-empty list of {', '.join(TARGETS)}, "
                          f"got {targets!r}")
    for name in section["variants"] or []:
        if name not in VARIANTS:
            raise ConfigError(f"{key}.variants: unknown variant {name!r} (known: {', '.join(VARIANTS)})")


def check_split(split: dict, key: str = "data.split") -> None:
    if abs(split["train"] + split["eval"] + split["test"] - 1.0) > 1e-6:
        raise ConfigError(f"{key}: train + eval + test must add up to 1")
    if split["train"] <= 0 or split["test"] <= 0:
        raise ConfigError(f"{key}: train and test fractions must be above 0")


FORECAST = {
    "model": Section({
        **COMMON["model"].fields,
        "quantiles": _f((list, type(None)), None,
                        help="quantile levels, e.g. [0.1, 0.5, 0.9]: the model forecasts each one "
                             "(pinball loss; 0.5 is added if missing and is the point forecast); "
                             "null: a point forecast"),
    }),
    "data": Section({
        "path": _f(str, is_path=True, help="CSV file (relative to the config file); may contain "
                                           "{SPAN} or {YYYY}, {MM}, {DD}"),
        "spans": span_section(),
        "time_column": _f(str),
        "time_format": _f(OPTIONAL_STR, None, help="strptime format; default ISO 8601"),
        "feature_columns": _f(list),
        "target_column": _f(str),
        "series_id_column": _f(OPTIONAL_STR, None),
        "split": split_section(),
        "split_by": _f(str, "time", choices=("time", "series"),
                       help="time: one set of time boundaries for every series; series: each "
                            "series split by its own time range (series with other spans)"),
        "until": _f(NUM, 1.0, minimum=0.01, maximum=1.0,
                    help="the oldest fraction of the time range that is read (later rows are "
                         "left out); evaluation.backtest sets it for each fold"),
        "max_bad_fraction": _f(NUM, 0.01, minimum=0.0, maximum=1.0),
        "max_missing_run": _f(int, 5, minimum=0,
                              help="longer runs of missing values are quarantined"),
    }, optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "log_returns": _f((bool, list), False, help="true for all features, or a list of columns"),
        "lookback": _f((int, type(None)), None, minimum=2,
                       help="steps of history per window; default three seasons (a season "
                            "of at most 24 steps) or one, at least 30"),
        "horizon": _f(int, 1, minimum=1),
        "stride": _f(int, 1, minimum=1),
        "normalization": _f(str, "window", choices=("window", "global"),
                            help="window: each window relative to its own last value and spread, "
                                 "the model predicting a correction to the base forecast most "
                                 "accurate on the eval split; global: train-split scaling (a "
                                 "level model)"),
        "linear_base": _f(bool, True,
                          help="with window normalization, also try a linear map of the window "
                               "fitted on the train split (ridge) as the base; used when it "
                               "beats the best fixed base on the eval split"),
    }),
    "evaluation": Section({
        "seasonal_period": _f((int, type(None)), None, minimum=1,
                              help="steps per season; default inferred from the time step"),
        "reference": _f(str, "auto_ets", choices=("auto_ets", "none"),
                        help="a statistical model scored next to the baselines: AutoETS fitted "
                             "on each series' train split (statsforecast), or none"),
        "backtest": Section({
            "folds": _f(int, 0, minimum=0,
                        help="0: off; N >= 2: the run is the last of N test blocks (rolling "
                             "origin), the N - 1 earlier ones are trained and scored too"),
        }),
        "blessing": Section({
            "max_mase": _f(OPTIONAL_NUM, None, minimum=0.0,
                           help="bless only if test MASE is below this"),
            "max_ratio_to_best_baseline": _f(
                OPTIONAL_NUM, 1.0, minimum=0.0,
                help="bless only if MASE / the best baseline's MASE is at most this"),
            "max_ratio_to_naive": _f(OPTIONAL_NUM, None, minimum=0.0,
                                     help="bless only if MASE / naive MASE is at most this"),
            "max_regression_vs_champion": _f(OPTIONAL_NUM, 0.05, minimum=0.0,
                                             help="relative MASE increase allowed"),
            "must_beat_reference": _f(bool, False,
                                      help="bless only if MASE is below the reference's"),
        }),
    }),
    "compression": compression_section({
        "max_relative_mae_increase": _f(NUM, 0.03, minimum=0.0,
                                        help="a variant's test MAE at most this much above the "
                                             "float model's (0.03: 3%)"),
    }),
}


def check_forecast(cfg: dict) -> None:
    data = cfg["data"]
    columns = data["feature_columns"]
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ConfigError("data.feature_columns: expected a non-empty list of column names")
    path = data_file(data)
    header = csv_header("data.path", path)
    wanted = [("data.time_column", data["time_column"]), ("data.target_column", data["target_column"])]
    wanted += [("data.feature_columns", c) for c in columns]
    if data["series_id_column"]:
        wanted.append(("data.series_id_column", data["series_id_column"]))
    elif data["split_by"] == "series":
        raise ConfigError("data.split_by: series needs data.series_id_column (the column naming "
                          "each series)")
    require_columns(path, header, wanted)
    if data["target_column"] not in columns:
        data["feature_columns"] = columns + [data["target_column"]]
    log_returns = cfg["transform"]["log_returns"]
    if isinstance(log_returns, list):
        for column in log_returns:
            if column not in data["feature_columns"]:
                raise ConfigError(f"transform.log_returns: '{column}' is not a feature column")
    check_split(data["split"])
    cfg["model"]["quantiles"] = check_quantiles(cfg)
    _resolve_season(cfg)
    _check_window_fits(cfg)
    _check_backtest(cfg)
    check_compression(cfg["compression"])


def data_rows(path: str) -> int:
    """Data rows (lines after the header) of a CSV file, counted in 1 MiB blocks."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - 1)


def _check_window_fits(cfg: dict) -> None:
    """One window (``lookback`` steps and ``horizon`` targets) must fit in the data (a file
    without data rows is ExampleGen's to report)."""
    data, transform = cfg["data"], cfg["transform"]
    paths = (spans.resolve(data["path"], data["spans"])[1] if spans.is_pattern(data["path"])
             else [data["path"]])
    rows = sum(data_rows(p) for p in paths)
    needed = transform["lookback"] + transform["horizon"]
    if 0 < rows < needed:
        raise ConfigError(f"transform.lookback: {transform['lookback']} steps + horizon "
                          f"{transform['horizon']} need at least {needed} rows, but data.path "
                          f"has {rows}; lower transform.lookback or add data")


def check_quantiles(cfg: dict) -> list | None:
    """``model.quantiles`` sorted, with 0.5 added; each level strictly between 0 and 1, none twice.
    A target forecast as log returns allows one step only: a quantile of one step's log return
    is a quantile of the next value, but quantiles of several steps' returns do not add up to a
    quantile of their sum."""
    levels = cfg["model"]["quantiles"]
    if levels is None:
        return None
    if not levels or not all(isinstance(q, NUM) and not isinstance(q, bool) and 0 < q < 1
                             for q in levels):
        raise ConfigError(f"model.quantiles: expected a list of levels between 0 and 1 "
                          f"(exclusive), e.g. [0.1, 0.5, 0.9], got {levels!r}")
    if len(set(levels)) < len(levels):
        raise ConfigError(f"model.quantiles: a level is listed twice in {levels!r}")
    log_returns, target = cfg["transform"]["log_returns"], cfg["data"]["target_column"]
    logged = log_returns is True or (isinstance(log_returns, list) and target in log_returns)
    if logged and cfg["transform"]["horizon"] > 1:
        raise ConfigError(f"model.quantiles: the target '{target}' is forecast as log returns "
                          f"(transform.log_returns) over {cfg['transform']['horizon']} steps; "
                          "quantiles of each step's return do not add up to a quantile of the "
                          "later value: leave the target out of transform.log_returns or use "
                          "horizon 1")
    return sorted({float(q) for q in levels} | {0.5})


def seasonal_period(cfg: dict) -> tuple:
    """``(period, how it was chosen)``: ``evaluation.seasonal_period``, or inferred from the
    time step of the data file when unset (:mod:`seqline.components.tasks.forecast.season`)."""
    from seqline.components.tasks.forecast.season import infer_seasonal_period

    if cfg["evaluation"]["seasonal_period"] is not None:
        return cfg["evaluation"]["seasonal_period"], "set in the config"
    data = cfg["data"]
    return infer_seasonal_period(data_file(data), data["time_column"], data["time_format"],
                                 data["series_id_column"])


def _check_backtest(cfg: dict) -> None:
    """``evaluation.backtest.folds``: 0 or at least 2, each fold with enough train data."""
    from seqline.pipeline.backtest import fold_splits

    folds = cfg["evaluation"]["backtest"]["folds"]
    if folds == 1:
        raise ConfigError("evaluation.backtest.folds: 1 fold is the run itself; use 0 (off) "
                          "or at least 2")
    fold_splits(cfg["data"]["split"], folds)


def default_lookback(period: int) -> int:
    """At least 30 steps; three seasons when a season is at most 24 steps (so the seasonal mean
    of the window has seasons to average), else one season."""
    return max(30, 3 * period if period <= 24 else period)


def _resolve_season(cfg: dict) -> None:
    """``transform.lookback`` defaults to :func:`default_lookback`; a lookback shorter than the
    season is an error (seasonal-naive needs one season of history)."""
    period, source = seasonal_period(cfg)
    transform = cfg["transform"]
    if transform["lookback"] is None:
        transform["lookback"] = default_lookback(period)
    elif period > transform["lookback"]:
        raise ConfigError(
            f"evaluation.seasonal_period: {period} ({source}) must not exceed transform.lookback "
            f"({transform['lookback']}): the seasonal-naive forecast needs one season of "
            f"history; raise transform.lookback to {period} or set evaluation.seasonal_period")


GENERATE = {
    "data": Section({
        "path": _f(str, is_path=True, help="text file, or a glob of files read in name order"),
        "split": split_section(),
        "max_bad_fraction": _f(NUM, 0.01, minimum=0.0, maximum=1.0,
                               help="stop if more lines than this are not UTF-8"),
    }, optional=False),
    "transform": Section({
        "seq_len": _f(int, 100, minimum=2, help="characters of context per training sequence"),
        "stride": _f((int, type(None)), None, minimum=1,
                     help="characters between sequence starts; default seq_len (no overlap)"),
        "min_count": _f(int, 1, minimum=1, help="rarer train-split characters map to OOV"),
        "max_vocab": _f(int, 256, minimum=2, help="vocabulary size including the OOV id"),
    }),
    "evaluation": Section({
        "sample_prompt": _f(OPTIONAL_STR, None, help="default: the start of the test text"),
        "sample_length": _f(int, 300, minimum=0),
        "sample_temperature": _f(NUM, 0.8, minimum=0.0),
        "blessing": Section({
            "max_bits_per_char": _f(OPTIONAL_NUM, None, minimum=0.0,
                                    help="bless only if test bits per character are at most this"),
            "max_ratio_to_unigram": _f(OPTIONAL_NUM, None, minimum=0.0,
                                       help="bless only if bpc / unigram bpc is at most this"),
            "max_regression_vs_champion": _f(OPTIONAL_NUM, 0.05, minimum=0.0,
                                             help="relative bpc increase allowed"),
        }),
    }),
}


def labeled_blessing() -> Section:
    """Blessing rules of the classification tasks (classify, label)."""
    return Section({
        "min_accuracy": _f(OPTIONAL_NUM, None, minimum=0.0, maximum=1.0,
                           help="bless only if test accuracy is at least this"),
        "min_macro_f1": _f(OPTIONAL_NUM, None, minimum=0.0, maximum=1.0,
                           help="bless only if test macro-F1 is at least this"),
        "beat_baseline": _f(bool, True, help="bless only if macro-F1 is above the majority "
                                             "baseline's"),
        "max_regression_vs_champion": _f(OPTIONAL_NUM, 0.05, minimum=0.0,
                                         help="relative macro-F1 drop allowed"),
    })


def labeled_data(**extra) -> dict:
    """The ``data`` keys the classification tasks share."""
    return {
        "path": _f(str, is_path=True, help="CSV file (relative to the config file)"),
        "feature_columns": _f(list),
        "label_column": _f(str),
        "time_column": _f(OPTIONAL_STR, None, help="sort key per series; default: row order"),
        "time_format": _f(OPTIONAL_STR, None,
                          help="strptime format; default: numbers or ISO 8601 times"),
        **extra,
        "max_bad_fraction": _f(NUM, 0.01, minimum=0.0, maximum=1.0),
        "max_missing_run": _f(int, 5, minimum=0,
                              help="longer runs of missing values are quarantined"),
    }


CLASS_WEIGHTS = _f(str, "none", choices=("none", "balanced"),
                   help="balanced: loss weight n / (classes x count) per train class")


def labeled_compression(metric: str) -> Section:
    """The ``compression`` section of the classification tasks: a budget in points of a score."""
    return compression_section({
        "metric": _f(str, metric, choices=("accuracy", "macro_f1"),
                     help="the test score a variant may lose"),
        "max_drop": _f(NUM, 0.01, minimum=0.0, maximum=1.0,
                       help="a variant's score at most this far below the float model's "
                            "(0.01: one point)"),
    })


CLASSIFY = {
    "data": Section(labeled_data(
        series_id_column=_f(str),
        test_path=_f(OPTIONAL_STR, None, is_path=True, help="separate file of test series"),
        split_column=_f(OPTIONAL_STR, None, help="column with train, eval or test per series"),
        split=Section({
            "eval": _f(NUM, 0.2, minimum=0.0, maximum=0.9,
                       help="fraction of the train series held out for validation"),
            "test": _f(NUM, 0.2, minimum=0.0, maximum=0.9,
                       help="fraction of all series held out for test when the data says "
                            "nothing of test series (no test_path, no 'test' in split_column)"),
            "seed": _f(int, 42, help="which series are held out (stratified by label)"),
        }),
    ), optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "max_length": _f((int, type(None)), None, minimum=1,
                         help="steps read per series; default: the longest train series"),
        "class_weights": CLASS_WEIGHTS,
    }),
    "evaluation": Section({"blessing": labeled_blessing()}),
    "compression": labeled_compression("accuracy"),
}

LABEL = {
    "data": Section(labeled_data(
        series_id_column=_f(OPTIONAL_STR, None, help="default: the whole file is one series"),
        split=split_section(0.7, 0.15, 0.15),
    ), optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "window": _f(int, 200, minimum=2, help="steps per model input window"),
        "stride": _f(int, 100, minimum=1, help="steps between window starts (overlap: window - "
                                               "stride)"),
        "class_weights": CLASS_WEIGHTS,
    }),
    "evaluation": Section({
        "plot_steps": _f(int, 3000, minimum=10, help="test steps shown in labeled_series.png"),
        "blessing": labeled_blessing(),
    }),
    "compression": labeled_compression("macro_f1"),
}


ASR = {
    "data": Section({
        "path": _f(str, is_path=True, help="manifest CSV (path, transcript[, speaker]) or a folder "
                                           "with a transcript file"),
        "transcript_file": _f(str, "transcripts.txt",
                              help="folder only: lines 'ID transcript'; audio is ID.wav/.flac/.ogg"),
        "path_column": _f(str, "path"),
        "transcript_column": _f(str, "transcript"),
        "speaker_column": _f(OPTIONAL_STR, "speaker", help="null: each clip is its own speaker"),
        "sample_rate": _f(int, 16000, minimum=8000, maximum=48000, help="clips are resampled to this"),
        "max_seconds": _f(NUM, 20.0, minimum=0.1, help="longer clips are quarantined"),
        "max_chars_per_second": _f(NUM, 30.0, minimum=1.0,
                                   help="clips too short for their transcript are quarantined"),
        "lowercase": _f(bool, True),
        "split": split_section(),
        "test_speakers": _f((list, type(None)), None,
                            help="speaker names or patterns (e.g. '*+m3') forming the test split"),
        "max_bad_fraction": _f(NUM, 0.05, minimum=0.0, maximum=1.0),
        "condition_columns": _f(list, [], help="manifest columns (e.g. channel) the test CER/WER "
                                               "is also reported by"),
    }, optional=False),
    "transform": Section({
        "features": _f(str, "log_mel", choices=("log_mel", "mfcc")),
        "n_mels": _f(int, 40, minimum=8, maximum=256),
        "n_mfcc": _f(int, 13, minimum=2, maximum=80, help="mfcc only"),
        "frame_ms": _f(NUM, 25.0, minimum=5.0, maximum=100.0),
        "hop_ms": _f(NUM, 10.0, minimum=2.5, maximum=50.0),
        "fmin": _f(NUM, 20.0, minimum=0.0),
        "fmax": _f(OPTIONAL_NUM, None, minimum=1.0, help="default: half the sample rate"),
        "spec_augment": Section({
            "freq_masks": _f(int, 0, minimum=0, help="train-time frequency masks per clip"),
            "freq_width": _f(int, 8, minimum=1),
            "time_masks": _f(int, 0, minimum=0, help="train-time time masks per clip"),
            "time_width": _f(int, 20, minimum=1, help="frames"),
        }),
        "waveform_augment": Section({
            "speeds": _f(list, [0.9, 1.0, 1.1], help="train clips play at one of these speeds "
                                                     "([1.0]: off)"),
            "gain_db": _f(NUM, 6.0, minimum=0.0, help="random gain in [-gain_db, +gain_db] dB"),
            "noise_prob": _f(NUM, 0.5, minimum=0.0, maximum=1.0,
                             help="share of train clips with background noise added"),
            "noise_kinds": _f(list, ["white", "pink", "brown", "hum"],
                              help="noise drawn from these (white, pink, brown, hum: mains)"),
            "noise_snr_db": _f(list, [0.0, 20.0], help="[min, max] SNR of the added noise"),
            "reverb_prob": _f(NUM, 0.3, minimum=0.0, maximum=1.0,
                              help="share of train clips in a synthetic room"),
            "rt60": _f(list, [0.2, 0.7], help="[min, max] room reverberation time, seconds"),
            "telephone_prob": _f(NUM, 0.3, minimum=0.0, maximum=1.0,
                                 help="share of train clips band-passed to 300-3400 Hz"),
            "codec_prob": _f(NUM, 0.2, minimum=0.0, maximum=1.0,
                             help="share of train clips quantized to 8-bit mu-law"),
        }),
    }),
    "model": Section({
        "type": _f(str, "gru", choices=("lstm", "gru")),
        "units": _f(int, 128, minimum=1),
        "layers": _f(int, 2, minimum=1),
        "bidirectional": _f(bool, True),
        "dropout": _f(NUM, 0.1, minimum=0.0, maximum=0.9),
        "conv_layers": _f(int, 1, minimum=0, help="convolutional front end (0: none)"),
        "conv_filters": _f(int, 128, minimum=1),
        "conv_kernel": _f(int, 5, minimum=1),
        "conv_stride": _f(int, 2, minimum=1, help="per conv layer; shortens the sequence"),
        "decoder": _f(str, "greedy", choices=("greedy", "beam_search"),
                      help="decoding used by the evaluation and the exported model"),
        "beam_width": _f(int, 8, minimum=1),
    }),
    "evaluation": Section({
        "worst_errors": _f(int, 20, minimum=0, help="worst test transcripts listed in MLflow"),
        "blessing": Section({
            "max_cer": _f(OPTIONAL_NUM, None, minimum=0.0, help="bless only if test CER is at most this"),
            "max_wer": _f(OPTIONAL_NUM, None, minimum=0.0, help="bless only if test WER is at most this"),
            "must_beat_baseline": _f(bool, True, help="CER below the most-frequent-transcript baseline"),
            "max_regression_vs_champion": _f(OPTIONAL_NUM, 0.05, minimum=0.0,
                                             help="relative CER increase allowed"),
        }),
    }),
    "compression": compression_section({
        "max_cer_increase": _f(NUM, 0.02, minimum=0.0, maximum=1.0,
                               help="a variant's test CER at most this above the float model's "
                                    "(0.02: two points)"),
    }, max_test_clips=_f((int, type(None)), 1000, minimum=1,
                         help="test clips (evenly spaced) every variant is scored on; null: all")),
}


def check_generate(cfg: dict) -> None:
    path = cfg["data"]["path"]
    if not any(os.path.isfile(p) for p in glob.glob(path)):
        raise ConfigError(f"data.path: no file matches {path}")
    check_split(cfg["data"]["split"])


def _number_list(key: str, value, size=None) -> None:
    if (not isinstance(value, list) or not value or (size and len(value) != size)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        shape = f"a list of {size} numbers" if size else "a non-empty list of numbers"
        raise ConfigError(f"transform.waveform_augment.{key}: expected {shape}, got {value!r}")


def check_waveform_augment(aug: dict) -> None:
    from seqline.corpora.spoken_digits import NOISE_KINDS

    _number_list("speeds", aug["speeds"])
    kinds = aug["noise_kinds"]
    if (not isinstance(kinds, list) or not kinds or len(set(map(str, kinds))) != len(kinds)
            or not set(map(str, kinds)) <= set(NOISE_KINDS)):
        raise ConfigError("transform.waveform_augment.noise_kinds: expected distinct names from "
                          f"{', '.join(NOISE_KINDS)}, got {kinds!r}")
    if not all(0.5 <= s <= 2.0 for s in aug["speeds"]):
        raise ConfigError("transform.waveform_augment.speeds: each speed must be in [0.5, 2]")
    for key, low in (("noise_snr_db", -20.0), ("rt60", 0.05)):
        _number_list(key, aug[key], size=2)
        if not low <= aug[key][0] <= aug[key][1]:
            raise ConfigError(f"transform.waveform_augment.{key}: need {low:g} <= min <= max, "
                              f"got {aug[key]}")
    if aug["rt60"][1] > 2.0:
        raise ConfigError("transform.waveform_augment.rt60: at most 2 seconds")


def check_asr(cfg: dict) -> None:
    check_compression(cfg["compression"])
    data = cfg["data"]
    if os.path.isdir(data["path"]):
        transcripts = os.path.join(data["path"], data["transcript_file"])
        if not os.path.isfile(transcripts):
            raise ConfigError(f"data.transcript_file: {transcripts} not found")
    else:
        header = csv_header("data.path", data["path"])
        wanted = [("data.path_column", data["path_column"]),
                  ("data.transcript_column", data["transcript_column"])]
        if data["speaker_column"]:
            wanted.append(("data.speaker_column", data["speaker_column"]))
        wanted += [("data.condition_columns", c) for c in data["condition_columns"]]
        require_columns(data["path"], header, wanted)
    conditions = data["condition_columns"]
    if not all(isinstance(c, str) and c for c in conditions) or len(set(conditions)) < len(conditions):
        raise ConfigError(f"data.condition_columns: expected distinct column names, got {conditions!r}")
    if conditions and os.path.isdir(data["path"]):
        raise ConfigError("data.condition_columns: needs a manifest CSV (data.path is a folder)")
    speakers = data["test_speakers"]
    if speakers is not None:
        if not speakers or not all(isinstance(s, str) and s for s in speakers):
            raise ConfigError("data.test_speakers: expected a non-empty list of speaker names or patterns")
        if not data["speaker_column"] and not os.path.isdir(data["path"]):
            raise ConfigError("data.test_speakers: needs data.speaker_column")
        if data["split"]["train"] <= 0:   # only train : eval matters next to test speakers
            raise ConfigError("data.split.train: must be above 0")
    else:
        check_split(data["split"])
    transform = cfg["transform"]
    check_waveform_augment(transform["waveform_augment"])
    if transform["hop_ms"] > transform["frame_ms"]:
        raise ConfigError("transform.hop_ms: must not exceed transform.frame_ms")
    nyquist = data["sample_rate"] / 2
    fmax = transform["fmax"] if transform["fmax"] is not None else nyquist
    if fmax > nyquist or transform["fmin"] >= fmax:
        raise ConfigError(f"transform.fmax: need fmin < fmax <= {nyquist:g} (half data.sample_rate)")
    if transform["features"] == "mfcc" and transform["n_mfcc"] > transform["n_mels"]:
        raise ConfigError("transform.n_mfcc: must not exceed transform.n_mels")


def _check_labeled_columns(data: dict, paths: list, extra: list) -> None:
    """Feature, label, time and ``extra`` ``(key, column)`` columns exist in every file."""
    columns = data["feature_columns"]
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ConfigError("data.feature_columns: expected a non-empty list of column names")
    if len(set(columns)) != len(columns):
        raise ConfigError("data.feature_columns: a column is listed twice")
    if data["label_column"] in columns:
        raise ConfigError(f"data.label_column: '{data['label_column']}' is also a feature column")
    wanted = [("data.feature_columns", c) for c in columns] + [("data.label_column",
                                                               data["label_column"])]
    if data["time_column"]:
        wanted.append(("data.time_column", data["time_column"]))
    wanted += [(key, column) for key, column in extra if column]
    for key, path in paths:
        require_columns(path, csv_header(key, path), wanted)


def check_classify(cfg: dict) -> None:
    data = cfg["data"]
    series = ("data.series_id_column", data["series_id_column"])
    _check_labeled_columns(data, [("data.path", data["path"])],
                           [series, ("data.split_column", data["split_column"])])
    if data["test_path"]:   # every series of this file is a test series: no split column
        _check_labeled_columns(data, [("data.test_path", data["test_path"])], [series])
    if data["split"]["eval"] + data["split"]["test"] >= 1.0:
        raise ConfigError("data.split: eval + test must leave some train series (below 1)")
    check_compression(cfg["compression"])


def check_label(cfg: dict) -> None:
    data, transform = cfg["data"], cfg["transform"]
    _check_labeled_columns(data, [("data.path", data["path"])],
                           [("data.series_id_column", data["series_id_column"])])
    check_split(data["split"])
    if transform["stride"] > transform["window"]:
        raise ConfigError(f"transform.stride: must not exceed transform.window "
                          f"({transform['window']}), or steps would be skipped")
    check_compression(cfg["compression"])


TASK_SECTIONS = {"forecast": FORECAST, "classify": CLASSIFY, "label": LABEL,
                 "generate": GENERATE, "asr": ASR}
TASK_CHECKS = {"forecast": check_forecast, "classify": check_classify,
               "label": check_label, "generate": check_generate, "asr": check_asr}
