"""Generate evaluation: bits per character on the held-out test text, next to the unigram
baseline and the current champion (re-scored on the same text); sample text; the blessing.

Bits per character (bpc) is the mean of ``-log2 p(next character | the characters before it)``
over every position of the test windows (the context restarts at each window). The unigram
baseline predicts every character with its add-one smoothed train-split frequency.
Writes ``metrics.json``, ``samples.txt`` and ``bits_per_position.png``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from seqline.components import ensemble
from seqline.components.split_io import split_pattern
from seqline.components.tasks.text import numerics as tm
from seqline.pipeline import counters

SAMPLE_SEED = 1234
PROMPT_CHARS = 40


def predicted_bits(model, x: np.ndarray, y: np.ndarray, batch_size: int = 128,
                   unit: str | None = None) -> tuple:
    """``(bits [N, T], top-1 hits [N, T])`` of ``model`` on the windows ``x`` -> ``y``; with a
    ``unit``, each batch's rows are added to that count of the progress display."""
    import keras

    bits, hits = [], []
    for i in range(0, len(x), batch_size):
        probs = keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
        bits.append(tm.bits(tm.true_class_probability(probs, y[i:i + batch_size])))
        hits.append(probs.argmax(-1) == y[i:i + batch_size])
        if unit:
            counters.add(unit, len(probs))
    return np.concatenate(bits), np.concatenate(hits)


def text_scores(bits: np.ndarray, hits: np.ndarray) -> dict:
    bpc = float(bits.mean())
    return {"bits_per_char": bpc, "perplexity": float(2 ** bpc), "accuracy": float(hits.mean())}


def _champion_scores(champion_dir: str, texts: list, ctx):
    """The newest pushed model's bpc on ``texts`` through its ``score`` signature, or ``None``."""
    import tensorflow as tf

    from seqline.components import serving_export

    found = serving_export.versions(champion_dir)
    if not found:
        return None, None
    loaded = tf.saved_model.load(os.path.join(champion_dir, str(found[-1])))
    if "score" not in loaded.signatures:
        ctx.echo(f"champion v{found[-1]} has no 'score' signature: not compared")
        return found[-1], None
    score = loaded.signatures["score"]
    total = count = 0.0
    for i in range(0, len(texts), 256):
        out = score(text=tf.constant(texts[i:i + 256]))
        n = out["predicted_chars"].numpy()
        total += float((out["bits_per_char"].numpy() * n).sum())
        count += float(n.sum())
    return found[-1], {"bits_per_char": total / max(count, 1.0), "perplexity": 2 ** (total / max(count, 1.0))}


def bless(model: dict, unigram: dict, champion: dict | None, rules: dict) -> tuple:
    """Apply the blessing rules; return ``(blessed, reasons)``."""
    bpc, reasons, ok = model["bits_per_char"], [], True
    checks = []
    if rules["max_bits_per_char"] is not None:
        checks.append((bpc, rules["max_bits_per_char"], "max_bits_per_char"))
    if rules["max_ratio_to_unigram"] is not None:
        checks.append((bpc / unigram["bits_per_char"], rules["max_ratio_to_unigram"],
                       "bpc / unigram bpc <= max_ratio_to_unigram"))
    if champion is not None and rules["max_regression_vs_champion"] is not None:
        limit = rules["max_regression_vs_champion"]
        checks.append((bpc, champion["bits_per_char"] * (1 + limit),
                       f"champion {champion['bits_per_char']:.4f} x (1 + {limit})"))
    for value, bound, name in checks:
        passed = value <= bound
        ok &= passed
        reasons.append(f"{value:.4f} {'<=' if passed else '>'} {bound:.4f} ({name})")
    if not reasons:
        reasons.append("no blessing rule applies (no threshold and no champion)")
    return bool(ok), reasons


def _samples(graph, model, fitted: dict, prompt: str, params: dict) -> str:
    """Sampled and greedy continuations of ``prompt`` by the exported generation code."""
    import tensorflow as tf

    from seqline.components.tasks.text.export import GenerateServer, start_id

    server = GenerateServer(tf.saved_model.load(graph.path("graph")), model, fitted["seq_len"],
                            start_id(fitted["vocab"]))
    lines = []
    for name, temperature in ((f"temperature {params['sample_temperature']}", params["sample_temperature"]),
                              ("greedy (temperature 0)", 0.0)):
        out = server.generate(tf.constant([prompt]), tf.constant(params["sample_length"]),
                              tf.constant(float(temperature)), tf.constant(0), tf.constant(SAMPLE_SEED, tf.int64))
        lines += [f"--- {name}, seed {SAMPLE_SEED} ---", prompt + out["text"].numpy()[0].decode("utf-8"), ""]
    return "\n".join(lines)


def evaluate(params: dict, examples, graph, model_path: str, evaluation, ctx) -> tuple:
    """Score the model; ``params`` is the ``evaluation`` section plus ``champion_dir``.

    Returns ``(key metrics, blessed, reasons)``.
    """
    from seqline.components import plots
    from seqline.components.tasks.text.data import load_arrays
    from seqline.models import load_model

    with open(graph.path("params.json"), encoding="utf-8") as fh:
        fitted = json.load(fh)
    data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
    model = load_model(model_path)
    bits, hits = predicted_bits(model, data["x"], data["y"], unit="sequences scored")
    unigram = np.asarray(fitted["unigram"])
    unigram_hits = data["y"] == int(unigram.argmax())
    scores = {"model": text_scores(bits, hits),
              "unigram": text_scores(tm.bits(unigram[data["y"]]), unigram_hits)}
    candidates = ensemble.score_candidates(model_path, lambda m: text_scores(*predicted_bits(m, data["x"], data["y"])))
    if candidates:
        ctx.echo(ensemble.describe(candidates, ensemble.read_index(model_path), "bits_per_char"))
    version, champion = _champion_scores(params["champion_dir"], data["text"], ctx)
    if champion is not None:
        scores["champion"] = champion
    blessed, reasons = bless(scores["model"], scores["unigram"], champion, params["blessing"])
    beats = scores["model"]["bits_per_char"] < scores["unigram"]["bits_per_char"]
    verdict = (f"model {scores['model']['bits_per_char']:.4f} bits/char vs unigram "
               f"{scores['unigram']['bits_per_char']:.4f}: the model "
               f"{'beats' if beats else 'does NOT beat'} the unigram baseline")
    ctx.echo(verdict)

    os.makedirs(evaluation.uri, exist_ok=True)
    report = {"metrics": scores, "candidates": candidates, "test_sequences": len(data["x"]),
              "test_chars_predicted": int(bits.size), "beats_unigram": beats, "verdict": verdict,
              "champion_version": version}
    with open(evaluation.path("metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    prompt = params["sample_prompt"] if params["sample_prompt"] is not None else data["text"][0][:PROMPT_CHARS]
    with open(evaluation.path("samples.txt"), "w", encoding="utf-8") as fh:
        fh.write(_samples(graph, model, fitted, prompt, params))
    ctx.log_file(plots.bits_per_position(bits.mean(0), scores["unigram"]["bits_per_char"],
                                         evaluation.path("bits_per_position.png")))
    for path in ("metrics.json", "samples.txt"):
        ctx.log_file(evaluation.path(path))
    flat = {f"{who}_{k}": v for who, m in scores.items() for k, v in m.items()}
    flat.update({f"candidate_{label}_{k}": v for label, m in candidates.items() for k, v in m.items()})
    ctx.log_metrics(flat)
    evaluation.properties.update(metrics=scores, candidates=candidates, beats_unigram=beats,
                                 test_sequences=len(data["x"]))
    key = {"bits_per_char": scores["model"]["bits_per_char"],
           "unigram_bits_per_char": scores["unigram"]["bits_per_char"],
           "accuracy": scores["model"]["accuracy"]}
    return key, blessed, reasons
