"""Speech evaluation: CER and WER on the test split (speakers never heard in training), next to
the most-frequent-transcript baseline and the current champion; the blessing.

Both decoders are scored (greedy and beam search); the model's figure is the configured one, the
decoder the exported model uses. The champion (newest pushed version) is re-scored on the test
clips' raw waveforms through its own serving signature. CER/WER are also reported per speaker
and per value of each of the manifest's condition columns (``channel``, ...), worst first.
Writes ``metrics.json``, ``transcripts.csv``, ``worst_errors.csv``, ``error_by_group.csv``,
``cer_by_speaker.png``, ``cer_by_<column>.png`` and ``example.png``; logs the worst errors to
MLflow as ``worst_errors.txt`` and each condition's CER/WER as ``cer_by_<column>/<value>``.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np

from seqline.components.split_io import split_pattern
from seqline.components.tasks.speech.groups import FIELDS, format_table, group_table, metric_name
from seqline.components.tasks.speech.text import error_rates, utterance_errors
from seqline.pipeline import counters

DECODERS = ("greedy", "beam_search")


def transcribe_split(model, graph, batches) -> dict:
    """Hypotheses of every clip in ``batches`` with each decoder, in order (the clips counted
    for the progress display)."""
    output = model.get_layer("ctc_output")
    hyps = {d: [] for d in DECODERS}
    for inputs in batches:
        logits = model(inputs, training=False)
        for decoder in DECODERS:
            ids = np.asarray(output.decode(logits, decoder), np.int32)
            hyps[decoder] += [t.decode() for t in graph.detokenize(ids).numpy()]
        counters.add("clips transcribed", int(logits.shape[0]))
    return hyps


def _champion_scores(champion_dir: str, pattern: str, sample_rate: int, ctx):
    """``(version, error rates)`` of the newest pushed model on the test waveforms, or
    ``(version or None, None)`` when there is none it can be compared with."""
    from seqline.components import serving_export
    from seqline.components.tasks.speech.data import load_audio

    found = serving_export.versions(champion_dir)
    if not found:
        return None, None
    path = os.path.join(champion_dir, str(found[-1]))
    serve = serving_export.load_signature(path)
    rate = serving_export.read_metadata(path).get("inputs", {}).get("waveform", {}).get("sample_rate")
    if "waveform" not in serve.structured_input_signature[1] or rate != sample_rate:
        ctx.echo(f"champion v{found[-1]} does not take {sample_rate} Hz waveforms: not compared")
        return found[-1], None
    clips = load_audio(pattern)
    hyps = [serve(waveform=wave)["transcript"].numpy().decode() for _, wave in clips]
    return found[-1], error_rates([ref for ref, _ in clips], hyps)


def bless(model: dict, baseline: dict, champion: dict | None, rules: dict) -> tuple:
    """Apply the blessing rules; return ``(blessed, reasons)``."""
    checks = []
    if rules["max_cer"] is not None:
        checks.append((model["cer"] <= rules["max_cer"],
                       f"CER {model['cer']:.4f} vs max_cer {rules['max_cer']}"))
    if rules["max_wer"] is not None:
        checks.append((model["wer"] <= rules["max_wer"],
                       f"WER {model['wer']:.4f} vs max_wer {rules['max_wer']}"))
    if rules["must_beat_baseline"]:
        checks.append((model["cer"] < baseline["cer"],
                       f"CER {model['cer']:.4f} vs baseline CER {baseline['cer']:.4f}"))
    limit = rules["max_regression_vs_champion"]
    if champion is not None and limit is not None:
        checks.append((model["cer"] <= champion["cer"] * (1 + limit),
                       f"CER {model['cer']:.4f} vs champion {champion['cer']:.4f} x (1 + {limit})"))
    if not checks:
        return True, ["no blessing rule applies (no threshold and no champion)"]
    return all(ok for ok, _ in checks), [("passed: " if ok else "FAILED: ") + why for ok, why in checks]


def _rows(meta, hyps, conditions):
    rows = []
    for i, ref in enumerate(meta["transcript"]):
        ce, nc, we, nw = utterance_errors(ref, hyps[i])
        rows.append({"path": meta["path"][i], "speaker": meta["speaker"][i],
                     **{c: meta[c][i] for c in conditions}, "reference": ref,
                     "hypothesis": hyps[i], "char_errors": ce, "cer": round(ce / max(nc, 1), 4),
                     "word_errors": we, "wer": round(we / max(nw, 1), 4)})
    return rows


def _write_csv(path: str, rows: list, fields=None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or (list(rows[0]) if rows else ["path"]))
        writer.writeheader()
        writer.writerows(rows)


def _clip_features(batches, index: int) -> np.ndarray:
    """The valid frames of clip ``index`` of the split."""
    for inputs in batches:
        size = len(inputs["lengths"])
        if index < size:
            return np.asarray(inputs["features"][index])[: int(inputs["lengths"][index])]
        index -= size
    raise IndexError(index)


def evaluate(params: dict, examples, graph, model_path: str, evaluation, ctx) -> tuple:
    """Score the model; ``params`` is the ``evaluation`` section plus ``champion_dir``.

    Returns ``(key metrics, blessed, reasons)``.
    """
    import tensorflow as tf

    from seqline.components import plots
    from seqline.components.tasks.speech.data import load_split
    from seqline.models.ctc import load_ctc_model

    with open(graph.path("params.json"), encoding="utf-8") as fh:
        fitted = json.load(fh)
    pattern = split_pattern(examples.uri, "test")
    batches, meta = load_split(pattern, examples.properties)
    refs = meta["transcript"]
    model = load_ctc_model(model_path)
    decoder = model.get_layer("ctc_output").decoder
    graph_module = tf.saved_model.load(graph.path("graph"))
    hyps = transcribe_split(model, graph_module, batches)
    baseline = fitted["most_frequent_transcript"]
    scores = {"model": error_rates(refs, hyps[decoder]),
              **{d: error_rates(refs, hyps[d]) for d in DECODERS},
              "baseline": error_rates(refs, [baseline] * len(refs))}
    version, champion = _champion_scores(params["champion_dir"], pattern,
                                         examples.properties["sample_rate"], ctx)
    if champion is not None:
        scores["champion"] = champion
    blessed, reasons = bless(scores["model"], scores["baseline"], scores.get("champion"),
                             params["blessing"])
    m, b = scores["model"], scores["baseline"]
    beats = m["cer"] < b["cer"]
    speakers = sorted(set(meta["speaker"]))
    verdict = (f"test ({len(refs)} clips, {len(speakers)} speakers not in training), {decoder} "
               f"decoding: CER {m['cer']:.2%}, WER {m['wer']:.2%}; baseline (most frequent train "
               f"transcript {baseline!r}): CER {b['cer']:.2%}, WER {b['wer']:.2%}: the model "
               f"{'beats' if beats else 'does NOT beat'} the baseline")
    ctx.echo(verdict)

    os.makedirs(evaluation.uri, exist_ok=True)
    conditions = examples.properties.get("condition_columns", [])
    rows = _rows(meta, hyps[decoder], conditions)
    worst = sorted(rows, key=lambda r: (-r["cer"], -r["char_errors"], r["path"]))
    worst = [r for r in worst if r["char_errors"]][:params["worst_errors"]]
    groups = group_table(rows, ["speaker", *conditions])
    per_speaker = {r["group"]: r["cer"] for r in groups if r["column"] == "speaker"}
    for column in conditions:
        ctx.echo(f"test CER/WER by {column}, worst first:\n" + format_table(groups, column))
    ctx.echo("worst test speakers:\n" + format_table(groups, "speaker", limit=5))
    report = {"metrics": scores, "decoder": decoder, "test_clips": len(refs),
              "test_speakers": len(speakers), "beats_baseline": beats, "verdict": verdict,
              "baseline_transcript": baseline, "champion_version": version,
              "cer_by_speaker": per_speaker,
              "by_condition": {c: {r["group"]: {k: r[k] for k in ("clips", "cer", "wer")}
                                   for r in groups if r["column"] == c} for c in conditions}}
    with open(evaluation.path("metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    _write_csv(evaluation.path("transcripts.csv"), rows)
    _write_csv(evaluation.path("worst_errors.csv"), worst)
    _write_csv(evaluation.path("error_by_group.csv"), groups, FIELDS)
    table = "\n".join(f"{r['cer']:6.1%}  {r['speaker']:<24} ref: {r['reference']}\n"
                      f"{'':32} hyp: {r['hypothesis']}" for r in worst)
    ctx.log_text(table or "no errors", "worst_errors.txt")
    ctx.log_file(plots.error_rate_by_group(
        per_speaker, b["cer"], evaluation.path("cer_by_speaker.png"),
        f"Test CER by held-out speaker (overall {m['cer']:.2%})"))
    for column in conditions:
        ctx.log_file(plots.error_rate_by_group(
            {r["group"]: r["cer"] for r in groups if r["column"] == column}, b["cer"],
            evaluation.path(f"cer_by_{column}.png"), f"Test CER by {column} (overall {m['cer']:.2%})"))
    example = worst[0] if worst else rows[0]
    features = _clip_features(batches, rows.index(example))
    ctx.log_file(plots.spectrogram(features, evaluation.path("example.png"),
                                   f"{example['speaker']}  ref: {example['reference']}\n"
                                   f"hyp: {example['hypothesis']}"))
    for name in ("metrics.json", "transcripts.csv", "worst_errors.csv", "error_by_group.csv"):
        ctx.log_file(evaluation.path(name))
    ctx.log_metrics({f"{who}_{k}": v for who, s in scores.items() for k, v in s.items()})
    ctx.log_metrics({metric_name(r["column"], r["group"], rate): r[rate]
                     for r in groups if r["column"] in conditions for rate in ("cer", "wer")})
    evaluation.properties.update(metrics=scores, beats_baseline=beats, test_clips=len(refs),
                                 decoder=decoder)
    key = {"cer": m["cer"], "wer": m["wer"], "baseline_cer": b["cer"], "baseline_wer": b["wer"]}
    return key, blessed, reasons
