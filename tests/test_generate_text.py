"""Generate task, data side: pure functions, Beam transforms, the vocabulary graph, config."""
from __future__ import annotations

import collections
import csv
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from seqline.components import example_gen, transform
from seqline.components.split_io import split_pattern
from seqline.components.tasks.text import graph as text_graph
from seqline.components.tasks.text import numerics as tm
from seqline.components.tasks.text.data import load_arrays
from seqline.components.tasks.text.example_gen import ReadText, TextLine, decode_line, encode_line
from seqline.components.tasks.text.transform import encode_windows, fit_params
from seqline.pipeline.config import validate_config
from seqline.pipeline.errors import ConfigError, DataError
from tests.forecast_fixtures import run_executor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "examples", "char_generate", "data", "devils_dictionary.txt")


def corpus_head(path, chars: int) -> str:
    """The first ``chars`` characters of the shipped corpus (whole lines) written to ``path``."""
    with open(CORPUS, encoding="utf-8") as fh:
        text = fh.read(chars)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text[:text.rindex("\n") + 1])
    return str(path)


def generate_config(folder, path, **sections) -> dict:
    raw = {"name": "lm_test", "task": "generate", "pipeline_root": "pipeline",
           "data": {"path": path}, "transform": {"seq_len": 32},
           "model": {"type": "gru", "units": 16}, "training": {"epochs": 1, "batch_size": 32},
           "pusher": {"serving_dir": "serving"}, **sections}
    return validate_config(raw, base_dir=str(folder))


# --- pure functions ------------------------------------------------------------------------------

def test_vocabulary_is_frequency_ordered_with_oov_zero():
    vocab = tm.build_vocab(collections.Counter("abracadabra"), max_vocab=4)
    assert vocab == ["a", "b", "r"]                      # c and d (1 each) do not fit in 4 - 1
    assert tm.encode("arc!", tm.char_index(vocab)).tolist() == [1, 3, tm.OOV_ID, tm.OOV_ID]
    assert tm.build_vocab({"x": 1, "y": 2}, min_count=2) == ["y"]
    with pytest.raises(ValueError, match="min_count"):
        tm.build_vocab({"x": 1}, min_count=0)


def test_sequences_cover_the_text_with_one_char_shift():
    assert list(tm.sequence_starts(10, 4, 4)) == [0, 4]      # windows of 5 chars: 0-4, 4-8
    assert list(tm.sequence_starts(10, 4, 2)) == [0, 2, 4]
    assert list(tm.sequence_starts(4, 4, 1)) == []           # too short for one window


def test_bits_per_char_is_cross_entropy_in_base_two():
    predictions = np.array([[[0.5, 0.25, 0.25], [0.125, 0.75, 0.125]]])
    targets = np.array([[0, 2]])
    assert tm.bits_per_char(predictions, targets) == pytest.approx((1 + 3) / 2)
    unigram = tm.unigram_probabilities(np.array([2, 0, 1]))    # add-one: 3/6, 1/6, 2/6
    np.testing.assert_allclose(unigram, [0.5, 1 / 6, 1 / 3])


def test_position_split_gives_contiguous_blocks():
    fractions = {"train": 0.8, "eval": 0.1, "test": 0.1}
    splits = [tm.split_of_offset(o, 100, fractions) for o in range(100)]
    assert splits == ["train"] * 80 + ["eval"] * 10 + ["test"] * 10


# --- Beam transforms -----------------------------------------------------------------------------

def test_read_text_quarantines_undecodable_lines(tmp_path):
    good = tmp_path / "a.txt"
    good.write_bytes(b"first line\nsecond \xff line\nthird\n")
    with TestPipeline() as p:
        read = p | beam.Create([(str(good), 100)]) | ReadText()
        assert_that(read.lines | "Lines" >> beam.Map(lambda l: (l.line, l.offset, l.text)),
                    equal_to([(1, 100, "first line\n"), (3, 100 + 11 + 14, "third\n")]), label="lines")
        assert_that(read.rejected | "Why" >> beam.Map(lambda r: (r.row, r.reason.split(" (")[0])),
                    equal_to([(2, "line is not UTF-8 text")]), label="rejected")


def decode_line_like(text, offset):
    """A TextLine as the Transform reads it back from an Example."""
    return decode_line(encode_line(TextLine("f.txt", 1, offset, text)))


def test_windows_are_cut_from_the_split_text_in_position_order():
    fitted = fit_params(collections.Counter("hello world\n"), {"seq_len": 4, "stride": None,
                                                                "min_count": 1, "max_vocab": 256})
    lines = [decode_line_like("world\n", 6), decode_line_like("hello ", 0)]
    out = list(encode_windows(("train", lines), fitted))
    texts = [tf.train.Example.FromString(data).features.feature["text"].bytes_list.value[0].decode()
             for _, data in out]
    assert texts == ["hello", "o wor"]                  # stride = seq_len by default
    ids = tf.train.Example.FromString(out[0][1]).features.feature["ids"].int64_list.value
    assert list(ids) == tm.encode("hello", tm.char_index(fitted["vocab"])).tolist()


# --- the vocabulary graph is the same mapping as the NumPy path ------------------------------------

def test_vocabulary_graph_encodes_and_decodes_like_numpy(tmp_path):
    with open(CORPUS, encoding="utf-8") as fh:
        text = fh.read(5000)
    vocab = tm.build_vocab(collections.Counter(text), min_count=3)
    text_graph.save(vocab, str(tmp_path / "graph"))
    graph = tf.saved_model.load(str(tmp_path / "graph"))
    sample = text[1000:1400] + "é€"                    # two characters outside the vocabulary
    expected = tm.encode(sample, tm.char_index(vocab))
    np.testing.assert_array_equal(graph.encode(tf.constant(sample)).numpy(), expected)
    batch = graph.encode_batch(tf.constant([sample, "ab"]))
    np.testing.assert_array_equal(batch["ids"].numpy()[0], expected)
    assert batch["lengths"].numpy().tolist() == [len(sample), 2]
    known = "".join(c for c in sample if c in vocab)
    assert graph.decode(tf.constant(tm.encode(known, tm.char_index(vocab)))).numpy().decode() == known


# --- the executors on the real corpus -------------------------------------------------------------

def test_example_gen_and_transform_on_the_corpus_with_a_bad_line(tmp_path):
    path = corpus_head(tmp_path / "corpus.txt", 20000)
    with open(path, "ab") as fh:
        fh.write(b"caf\xe9 au lait\n")                  # Latin-1, not UTF-8
    cfg = generate_config(tmp_path, "corpus.txt")
    gen = run_executor(example_gen, cfg, {}, str(tmp_path / "gen"))
    with open(gen["quarantine"].path("quarantine.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file"], r["reason"].split(" (")[0]) for r in rows] == [("corpus.txt", "line is not UTF-8 text")]
    assert int(rows[0]["row"]) == sum(1 for _ in open(path, "rb"))
    chars = gen["examples"].properties["split_chars"]
    assert chars["train"] > 7 * chars["test"] > 0
    out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp_path / "tf"))
    transformed = out["transformed_examples"]
    test = load_arrays(split_pattern(transformed.uri, "test"), transformed.properties)
    assert test["x"].shape[1] == 32
    np.testing.assert_array_equal(test["x"][:, 1:], test["y"][:, :-1])
    vocab = out["transform_graph"].properties["vocab_size"]
    assert transformed.properties["vocab_size"] == vocab and test["y"].max() < vocab
    with open(path, encoding="utf-8", errors="replace") as fh:
        assert test["text"][0] in fh.read()            # windows are verbatim text of the corpus


def test_too_many_bad_lines_stop_the_run(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe\nok\n\xff\n")
    cfg = generate_config(tmp_path, "bad.txt")
    with pytest.raises(DataError, match=r"2 of 4 lines are not UTF-8"):
        run_executor(example_gen, cfg, {}, str(tmp_path / "gen"))


def test_the_example_config_is_valid():
    from seqline.pipeline.config import load_config

    cfg = load_config(os.path.join(ROOT, "examples", "char_generate", "pipeline.yaml"))
    assert cfg["task"] == "generate" and os.path.samefile(cfg["data"]["path"], CORPUS)


def test_generate_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="data.path: no file matches"):
        generate_config(tmp_path, "missing*.txt")
    corpus_head(tmp_path / "c.txt", 1000)
    with pytest.raises(ConfigError, match="transform.seq_len: must be >= 2"):
        generate_config(tmp_path, "c.txt", transform={"seq_len": 1})
    with pytest.raises(ConfigError, match="tuning.search_space.lookback: the generate task cannot"):
        generate_config(tmp_path, "c.txt", tuning={"search_space": {"lookback": [8, 16]}})
