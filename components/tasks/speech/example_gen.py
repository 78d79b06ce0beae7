"""Audio ExampleGen: a manifest CSV or a folder of clips -> speaker-split TFRecords, bad clips in
a quarantine artifact.

Inputs (``data`` section)
    a manifest CSV with ``path, transcript[, speaker]`` columns (paths relative to the CSV, and
    any ``condition_columns``, such as ``channel``, that the Evaluator scores by), or a
    folder holding ``transcript_file`` whose lines are ``ID transcript``; the audio of ``ID`` is
    ``ID.wav``, ``ID.flac`` or ``ID.ogg`` next to it, and its speaker is the part of ``ID`` before
    the first ``-`` (LibriSpeech's ``SPEAKER-CHAPTER-UTTERANCE``).
Outputs
    examples: ``Split-{train,eval,test}-*.tfrecord.gz``, one ``tf.train.Example`` per clip
        (16-bit PCM at ``data.sample_rate``, transcript, speaker, source).
    quarantine: ``quarantine.csv`` (file, row, reason, raw): unreadable, missing, empty, corrupt,
        wrong-format, too long or too short clips, and empty transcripts.
Every speaker's clips land in one split: the test split holds speakers never heard in training.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os

import apache_beam as beam

from seqline.components.split_io import SPLITS, WriteSplits, finish_splits
from seqline.components.tasks import csv_records as cr
from seqline.components.tasks.speech.codec import Clip, encode
from seqline.components.tasks.speech.audio_io import FORMATS, AudioError, load_clip
from seqline.pipeline.errors import DataError


def normalize_transcript(text: str, lowercase: bool) -> str:
    """Collapse whitespace; lowercase if asked."""
    text = " ".join(text.split())
    return text.lower() if lowercase else text


def _folder_entries(params: dict):
    """``(file, row, audio path, transcript, speaker, raw)`` per line of the transcript file."""
    folder = params["path"]
    listing = os.path.join(folder, params["transcript_file"])
    for number, line in enumerate(cr.decoded_lines(listing), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        clip_id, _, transcript = line.strip().partition(" ")
        audio = os.path.join(folder, clip_id)
        if os.path.splitext(clip_id)[1].lower() not in FORMATS:
            found = [audio + ext for ext in FORMATS if os.path.exists(audio + ext)]
            audio = found[0] if found else audio + ".wav"
        yield listing, number, audio, transcript, clip_id.split("-", 1)[0], line, ()


def _manifest_entries(params: dict):
    base = os.path.dirname(params["path"])
    for path, number, cells in cr.read_rows(params["path"]):
        if "__error__" in cells:
            yield cr.Rejected(path, number, cells["__error__"], cells["__raw__"])
            continue
        audio = cells[params["path_column"]].strip()
        column = params["speaker_column"]
        speaker = cells[column].strip() if column else audio
        conditions = tuple((c, cells[c].strip()) for c in params["condition_columns"])
        yield (path, number, os.path.join(base, audio) if audio else "",
               cells[params["transcript_column"]], speaker, ",".join(cells.values()), conditions)


def read_entries(params: dict) -> tuple:
    """``(entries, rejected)``: the clips the manifest or transcript file lists, and its bad lines.

    An entry is ``(file, row, audio path, transcript, speaker, raw line, conditions)``.
    """
    source = _folder_entries if os.path.isdir(params["path"]) else _manifest_entries
    entries, rejected = [], []
    for item in source(params):
        if isinstance(item, cr.Rejected):
            rejected.append(item)
            continue
        file, row, audio, transcript, speaker, raw, conditions = item
        transcript = normalize_transcript(transcript, params["lowercase"])
        if not audio:
            rejected.append(cr.Rejected(file, row, "empty audio path", raw))
        elif not transcript:
            rejected.append(cr.Rejected(file, row, "empty transcript", raw))
        else:
            entries.append((file, row, audio, transcript, speaker or audio, raw, conditions))
    return entries, rejected


def speaker_splits(speakers, fractions: dict, test_patterns=None, seed: int = 0) -> dict:
    """Speaker -> split. With ``test_patterns`` (names or ``fnmatch`` patterns) the matching
    speakers are the test split and the others are divided between train and eval in the ratio
    ``train : eval``; otherwise the speakers are divided by the three fractions. The order is a
    seeded hash, so the assignment does not depend on the data's order."""
    order = sorted(set(speakers), key=lambda s: hashlib.sha1(f"{seed}:{s}".encode()).hexdigest())
    if test_patterns:
        test = [s for s in order if any(fnmatch.fnmatchcase(s, p) for p in test_patterns)]
        if not test:
            shown = ", ".join(sorted(order)[:5]) + (", ..." if len(order) > 5 else "")
            raise DataError(f"data.test_speakers: no speaker matches {', '.join(test_patterns)} "
                            f"(speakers: {shown})")
        rest = [s for s in order if s not in test]
        n_eval = round(len(rest) * fractions["eval"] / (fractions["train"] + fractions["eval"]))
    else:
        if len(order) < 2:
            raise DataError(f"need at least 2 speakers to split by speaker, found {len(order)}")
        n_test = max(1, round(len(order) * fractions["test"]))
        test, rest = order[:n_test], order[n_test:]
        n_eval = round(len(order) * fractions["eval"])
    if not rest:
        raise DataError("every speaker is a test speaker: none is left for training")
    table = {s: "test" for s in test}
    n_eval = min(n_eval, len(rest) - 1)
    table.update({s: "eval" if i < n_eval else "train" for i, s in enumerate(rest)})
    return table


def load_entry(entry: tuple, table: dict, params: dict):
    """Decode and check one listed clip: yields ``(split, Clip)`` or a tagged Rejected."""
    file, row, audio, transcript, speaker, raw, conditions = entry
    name = os.path.basename(audio)
    try:
        samples = load_clip(audio, params["sample_rate"])
    except AudioError as exc:
        yield beam.pvalue.TaggedOutput("rejected", cr.Rejected(file, row, f"{name}: {exc}", raw))
        return
    clip = Clip(samples, params["sample_rate"], transcript, speaker,
                os.path.relpath(audio, os.path.dirname(file)), file, row, conditions)
    reason = None
    if clip.seconds > params["max_seconds"]:
        reason = (f"too long: {clip.seconds:.1f} s (limit data.max_seconds="
                  f"{params['max_seconds']:g})")
    elif len(transcript) / clip.seconds > params["max_chars_per_second"]:
        reason = (f"too short for its transcript: {clip.seconds:.2f} s for {len(transcript)} "
                  f"characters (limit data.max_chars_per_second={params['max_chars_per_second']:g})")
    if reason:
        yield beam.pvalue.TaggedOutput("rejected", cr.Rejected(file, row, f"{name}: {reason}", raw))
    else:
        yield table[speaker], clip


def _write_summary(_, path, counts, seconds, rejected):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"split_counts": {s: counts.get(s, 0) for s in SPLITS},
                   "hours": {s: round(seconds.get(s, 0.0) / 3600, 4) for s in SPLITS},
                   "rejected": rejected}, fh)


def generate(params: dict, examples, quarantine, ctx) -> dict:
    """Run the Beam pipeline for the ``data`` section ``params``; return key metrics."""
    entries, bad_lines = read_entries(params)
    listed = len(entries) + len(bad_lines)
    if listed == 0:
        raise DataError(f"{params['path']}: lists no clips")
    table = speaker_splits([e[4] for e in entries], params["split"], params["test_speakers"])
    os.makedirs(quarantine.uri, exist_ok=True)
    summary_path = quarantine.path("summary.json")
    with beam.Pipeline(options=ctx.beam_options()) as p:
        loaded = (p | "Entries" >> beam.Create(entries, reshuffle=False)
                  | "Load" >> beam.FlatMap(load_entry, table, params).with_outputs("rejected", main="clips"))
        clips = loaded.clips
        (clips | "Encode" >> beam.MapTuple(lambda split, clip: (split, encode(clip)))
         | "Write" >> WriteSplits(examples.uri))
        rejected = ((loaded.rejected, p | "BadLines" >> beam.Create(bad_lines, reshuffle=False))
                    | "AllRejects" >> beam.Flatten())
        (rejected | "RejectList" >> beam.combiners.ToList()
         | "WriteQuarantine" >> beam.Map(cr.write_quarantine, quarantine.path("quarantine.csv")))
        counts = clips | "SplitNames" >> beam.Keys() | "CountSplits" >> beam.combiners.Count.PerElement()
        seconds = (clips | "Seconds" >> beam.MapTuple(lambda split, clip: (split, clip.seconds))
                   | "SumSeconds" >> beam.CombinePerKey(sum))
        n_rejected = rejected | "CountRejects" >> beam.combiners.Count.Globally()
        (p | "Once" >> beam.Create([None]) | "Summary" >> beam.Map(
            _write_summary, summary_path, counts=beam.pvalue.AsDict(counts),
            seconds=beam.pvalue.AsDict(seconds), rejected=beam.pvalue.AsSingleton(n_rejected)))
    finish_splits(examples.uri)
    with open(summary_path, encoding="utf-8") as fh:
        summary = json.load(fh)
    where = quarantine.path("quarantine.csv")
    fraction = cr.check_bad_fraction(params["path"], summary["rejected"], listed,
                                     params["max_bad_fraction"], where, ctx.echo, unit="clips")
    for split in ("train", "test"):
        if summary["split_counts"][split] == 0:
            raise DataError(f"{params['path']}: the {split} split has no usable clips; add data or "
                            "change data.split / data.test_speakers")
    speakers = {s: sorted(k for k, v in table.items() if v == s) for s in SPLITS}
    examples.properties.update(split_names=list(SPLITS), split_counts=summary["split_counts"],
                               hours=summary["hours"], sample_rate=params["sample_rate"],
                               speakers={s: len(v) for s, v in speakers.items()},
                               test_speakers=speakers["test"], source=params["path"],
                               condition_columns=list(params["condition_columns"]))
    quarantine.properties.update(count=summary["rejected"], rows=listed, fraction=fraction)
    ctx.log_file(where)
    counts = summary["split_counts"]
    ctx.echo(f"{sum(counts.values())} clips ({sum(summary['hours'].values()):.2f} h) from "
             f"{len(table)} speakers: " + ", ".join(
                 f"{s} {counts[s]} clips / {len(speakers[s])} speakers" for s in SPLITS))
    return {"clips": listed, "quarantined": summary["rejected"],
            **{f"{s}_clips": n for s, n in counts.items()}}
