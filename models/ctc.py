"""Speech recognition with CTC: convolutional front end, (bidirectional) recurrent encoder,
per-frame character logits, CTC loss and greedy or beam-search decoding.

Inputs are padded feature frames ``features [batch, frames, channels]`` and the number of valid
frames ``lengths [batch]``. Label 0 is the CTC blank. The output layer forces the padded frames
to the blank, so the CTC loss and the decoders can run over the full padded length and still give
the result of the true length; the model therefore needs no second output for its lengths.

Example:
    >>> model = build_ctc_model({"type": "gru", "units": 16, "layers": 1}, 40, 27)
    >>> model.output_shape
    (None, None, 28)
"""
import keras
from keras import ops

from seqline.models.recurrent import recurrent_encoder

BLANK = 0
FORCED = 1e4        # logit margin that pins padded frames to the blank


@keras.saving.register_keras_serializable(package="seqline")
class FrameMask(keras.layers.Layer):
    """``(x [batch, steps, d], lengths [batch])`` -> ``[batch, steps]``: which steps are valid
    after the input lengths were divided by ``stride`` (rounded up)."""

    def __init__(self, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.stride = stride

    def call(self, x, lengths):
        valid = (ops.cast(lengths, "int32") + self.stride - 1) // self.stride
        return ops.arange(ops.shape(x)[1])[None, :] < valid[:, None]

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="seqline")
class CTCOutput(keras.layers.Layer):
    """Frame logits ``[batch, steps, classes]`` with padded steps forced to the blank; carries
    the decoding settings (``greedy`` or ``beam_search`` with ``beam_width``)."""

    def __init__(self, decoder: str = "greedy", beam_width: int = 8, **kwargs):
        super().__init__(**kwargs)
        if decoder not in ("greedy", "beam_search"):
            raise ValueError(f"decoder must be 'greedy' or 'beam_search', got {decoder!r}")
        if beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {beam_width}")
        self.decoder, self.beam_width = decoder, beam_width

    def call(self, logits, valid):
        classes = ops.shape(logits)[-1]
        blank = ops.where(ops.arange(classes) == BLANK, 0.0, -FORCED)
        return ops.where(valid[:, :, None], logits, ops.cast(blank, logits.dtype)[None, None, :])

    def compute_mask(self, inputs, previous_mask=None):
        return None    # the loss is per sequence, not per frame

    def decode(self, logits, strategy: str | None = None):
        """Label ids ``[batch, steps]`` (``-1`` pads) of the best path, by this layer's decoder
        unless ``strategy`` is given."""
        return ctc_decode(logits, strategy or self.decoder, self.beam_width)

    def get_config(self):
        return {**super().get_config(), "decoder": self.decoder, "beam_width": self.beam_width}


def ctc_decode(logits, strategy: str = "greedy", beam_width: int = 8):
    """Best label sequence per example of ``logits [batch, steps, classes]``: ids ``[batch,
    steps]`` padded with ``-1``; repeats merged and blanks removed."""
    lengths = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1], dtype="int32")
    decoded, _ = ops.ctc_decode(logits, lengths, strategy=strategy, beam_width=beam_width,
                                top_paths=1, mask_index=BLANK)
    return decoded[0]


@keras.saving.register_keras_serializable(package="seqline")
class CTCLoss(keras.losses.Loss):
    """CTC loss of logits against labels padded with 0 (the blank is never a label)."""

    def __init__(self, name: str = "ctc", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        label_lengths = ops.sum(ops.cast(labels > BLANK, "int32"), axis=1)
        frames = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], dtype="int32")
        return ops.ctc_loss(labels, y_pred, label_lengths, frames, mask_index=BLANK)


def total_stride(model_cfg: dict) -> int:
    """How many input frames one output frame covers."""
    return model_cfg.get("conv_stride", 1) ** model_cfg.get("conv_layers", 0)


def build_ctc_model(model_cfg: dict, n_features: int, vocabulary_size: int,
                    name: str = "seqline_asr") -> keras.Model:
    """An uncompiled CTC model: inputs ``features``/``lengths``, output ``vocabulary_size + 1``
    logits per (strided) frame. ``model_cfg`` is the ``model`` section of an ``asr`` config."""
    kind = model_cfg["type"]
    if kind not in ("lstm", "gru", "simple_rnn"):
        raise ValueError(f"model.type must be lstm, gru or simple_rnn for CTC, got {kind!r}")
    if n_features < 1 or vocabulary_size < 1:
        raise ValueError(f"need n_features >= 1 and vocabulary_size >= 1, got {n_features}, "
                         f"{vocabulary_size}")
    features = keras.Input((None, n_features), name="features")
    lengths = keras.Input((), dtype="int32", name="lengths")
    x = features
    for i in range(model_cfg.get("conv_layers", 0)):
        # causal padding: an output frame never sees padding beyond its clip, whatever the batch
        x = keras.layers.Conv1D(model_cfg["conv_filters"], model_cfg["conv_kernel"],
                                strides=model_cfg["conv_stride"], padding="causal",
                                activation="relu", name=f"conv_{i}")(x)
    mask = FrameMask(total_stride(model_cfg), name="frame_mask")(x, lengths)
    x = recurrent_encoder(x, kind, model_cfg["units"], model_cfg["layers"],
                          model_cfg.get("dropout", 0.0), return_sequences=True,
                          bidirectional=model_cfg.get("bidirectional", False), mask=mask)
    logits = keras.layers.Dense(vocabulary_size + 1, name="logits")(x)
    outputs = CTCOutput(model_cfg.get("decoder", "greedy"), model_cfg.get("beam_width", 8),
                        name="ctc_output")(logits, mask)
    return keras.Model({"features": features, "lengths": lengths}, outputs, name=name)


@keras.saving.register_keras_serializable(package="seqline")
class AllFrames(keras.layers.Layer):
    """``features [batch, frames, channels]`` -> ``lengths [batch]``: every frame is valid (one
    unpadded clip per call)."""

    def call(self, features):
        return ops.full((ops.shape(features)[0],), ops.shape(features)[1], dtype="int32")


def edge_network(model: keras.Model) -> keras.Model:
    """``model`` with one input, the frames of one unpadded clip (``lengths`` is their count):
    what an edge runtime calls, clip by clip. Outputs the same logits."""
    n_features = model.get_layer("features").output.shape[-1]
    features = keras.Input((None, n_features), name="features")
    logits = model({"features": features, "lengths": AllFrames()(features)})
    return keras.Model(features, keras.layers.Identity(name="logits")(logits),
                       name=f"{model.name}_edge")


def load_ctc_model(path: str) -> keras.Model:
    """A saved CTC model (``.keras``); importing this module registers its custom layers."""
    return keras.saving.load_model(path, compile=False)
