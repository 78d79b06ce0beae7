"""The served character language model: vocabulary graph + trained Keras model in one SavedModel.

Signatures
    ``serving_default`` (generation): ``prompt`` (string ``[batch]``), ``length`` (int32: characters
        to add), ``temperature`` (float32; 0 picks the most likely character), ``top_k`` (int32;
        sample among the k likeliest, 0 = all) and ``seed`` (int64: same seed, same text) ->
        ``text`` (string ``[batch]``, the continuation without the prompt).
    ``score``: ``text`` (string ``[batch]``) -> ``bits_per_char`` (float32 ``[batch]``: mean bits of
        predicting each character from the ones before it) and ``predicted_chars`` (int32).

Generation runs the model on the last ``seq_len`` characters for each new character; unknown
prompt characters map to the OOV id, which is never generated. An empty prompt starts from a
newline (or OOV if the vocabulary has none).
"""
from __future__ import annotations

import tensorflow as tf

from seqline.components.tasks.text.numerics import OOV_ID

SEED_STRIDE = 1_000_003   # separates the random streams of the prompts in one call


class GenerateServer(tf.Module):
    """Prompt -> continuation (``generate``), and text -> bits per character (``score``)."""

    def __init__(self, graph, model, seq_len: int, start_id: int):
        super().__init__()
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.graph, self.model = graph, model
        self.seq_len, self.start_id = seq_len, start_id
        self.generate = tf.function(self._generate, input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="length"),
            tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.int64, name="seed")])
        self.score = tf.function(self._score, input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    def _next_id(self, context, temperature, top_k, seed):
        probs = tf.cast(self.model(context[None, :], training=False)[0, -1], tf.float32)
        logits = tf.math.log(tf.maximum(probs, 1e-30))
        never = tf.one_hot(OOV_ID, tf.shape(logits)[0], on_value=True, off_value=False)
        logits = tf.where(never, -float("inf"), logits)
        size = tf.shape(logits)[0]
        k = tf.where(top_k > 0, tf.minimum(top_k, size), size)
        kth = tf.math.top_k(logits, k).values[-1]
        logits = tf.where(logits < kth, -float("inf"), logits)
        sampled = tf.random.stateless_categorical(logits[None] / tf.maximum(temperature, 1e-6), 1,
                                                  seed=seed, dtype=tf.int32)[0, 0]
        return tf.where(temperature > 0, sampled, tf.argmax(logits, output_type=tf.int32))

    def _continue(self, prompt, index, length, temperature, top_k, seed):
        ids = self.graph.encode(prompt)
        context = tf.cond(tf.size(ids) > 0, lambda: ids, lambda: tf.constant([self.start_id], tf.int32))
        out = tf.TensorArray(tf.int32, size=length, element_shape=[])
        stream = seed + tf.cast(index, tf.int64) * SEED_STRIDE
        for i in tf.range(length):
            tf.autograph.experimental.set_loop_options(
                shape_invariants=[(context, tf.TensorShape([None]))])
            context = context[-self.seq_len:]
            next_id = self._next_id(context, temperature, top_k, tf.stack([stream, tf.cast(i, tf.int64)]))
            out = out.write(i, next_id)
            context = tf.concat([context, next_id[None]], axis=0)
        return self.graph.decode(out.stack())

    def _generate(self, prompt, length, temperature, top_k, seed):
        length = tf.maximum(length, 0)
        text = tf.map_fn(lambda args: self._continue(args[0], args[1], length, temperature, top_k, seed),
                         (prompt, tf.range(tf.size(prompt))), fn_output_signature=tf.string)
        return {"text": text}

    def _score(self, text):
        encoded = self.graph.encode_batch(text)
        ids, lengths = encoded["ids"], encoded["lengths"]
        ids = tf.pad(ids, [[0, 0], [0, 1]])          # at least one input step, even for 1 char
        x, y = ids[:, :-1], ids[:, 1:]
        probs = tf.cast(self.model(x, training=False), tf.float32)
        p = tf.gather(probs, y, batch_dims=2)
        mask = tf.sequence_mask(tf.maximum(lengths - 1, 0), tf.shape(y)[1], tf.float32)
        bits = -tf.math.log(tf.maximum(p, 1e-12)) / tf.math.log(2.0) * mask
        n = tf.reduce_sum(mask, axis=1)
        return {"bits_per_char": tf.reduce_sum(bits, axis=1) / tf.maximum(n, 1.0),
                "predicted_chars": tf.cast(n, tf.int32)}


def start_id(vocab: list) -> int:
    """The id an empty prompt starts from: the newline's, else OOV."""
    return vocab.index("\n") + 1 if "\n" in vocab else OOV_ID


SIGNATURE_SPEC = {
    "inputs": {"prompt": {"dtype": "string", "shape": [-1]}, "length": {"dtype": "int32", "shape": []},
               "temperature": {"dtype": "float32", "shape": []},
               "top_k": {"dtype": "int32", "shape": [], "note": "0 = all characters"},
               "seed": {"dtype": "int64", "shape": []}},
    "outputs": {"text": {"dtype": "string", "shape": [-1], "note": "continuation, without the prompt"}},
    "signatures": {"score": {"inputs": {"text": {"dtype": "string", "shape": [-1]}},
                             "outputs": {"bits_per_char": {"dtype": "float32", "shape": [-1]},
                                         "predicted_chars": {"dtype": "int32", "shape": [-1]}}}},
}
