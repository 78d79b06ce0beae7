"""Speech recognition: audio clips with transcripts -> a model that turns a raw waveform into text."""
from __future__ import annotations

from seqline.components.split_io import split_pattern
from seqline.components.tasks.base import Task, train_eval_datasets
from seqline.pipeline.errors import ConfigError


class AsrTask(Task):
    """Manifest/folder audio split by speaker, log-mel/MFCC features in the transform graph,
    convolutional + recurrent CTC model, CER/WER next to a most-frequent-transcript baseline,
    waveform-to-transcript serving signature."""

    name = "asr"
    loss_label = "CTC loss (nats per clip)"
    compression_module = "seqline.components.tasks.speech.compression"

    def example_gen(self, params, examples, quarantine, ctx):
        from seqline.components.tasks.speech.example_gen import generate

        return generate(params, examples, quarantine, ctx)

    def statistics_view(self, examples):
        from seqline.components.tasks.statistics_views import audio_view

        return audio_view

    def transform(self, params, examples, graph, transformed, ctx):
        from seqline.components.tasks.speech.transform import run_transform

        return run_transform(params, examples, graph, transformed, ctx)

    def datasets(self, transformed, training):
        from seqline.components.tasks.speech.data import make_dataset

        return train_eval_datasets(make_dataset, transformed, training,
                                   augment=transformed.properties.get("spec_augment"),
                                   waveform_augment=transformed.properties.get("waveform_augment"))

    def build_model(self, model_cfg, transformed, name):
        from seqline.models.ctc import build_ctc_model, total_stride

        props = transformed.properties
        stride = total_stride(model_cfg)
        augment = props.get("waveform_augment")
        fastest = max(augment["speeds"]) if augment else 1.0
        if stride > props["max_total_stride"] / max(fastest, 1.0):
            raise ConfigError(
                f"model.conv_stride: {model_cfg['conv_layers']} conv layer(s) of stride "
                f"{model_cfg['conv_stride']} shorten clips {stride}x, but the tightest train/eval "
                f"clip allows at most {props['max_total_stride']}x for CTC"
                + (f" (/{fastest:g} for the fastest speed perturbation)" if fastest > 1 else "")
                + "; lower model.conv_stride or model.conv_layers")
        return build_ctc_model(model_cfg, props["n_features"], props["vocabulary_size"], name=name)

    def compile_args(self, transformed):
        from seqline.models.ctc import CTCLoss

        return {"loss": CTCLoss()}

    def evaluate(self, params, transformed, graph, model_path, evaluation, ctx):
        from seqline.components.tasks.speech.evaluate import evaluate

        return evaluate(params, transformed, graph, model_path, evaluation, ctx)

    def export(self, graph, model_path, transformed, path):
        import tensorflow as tf

        from seqline.components import serving_export
        from seqline.components.tasks.speech.export import SpeechServer
        from seqline.models.ctc import load_ctc_model

        model = load_ctc_model(model_path)
        server = SpeechServer(tf.saved_model.load(graph.path("graph")), model)
        output = model.get_layer("ctc_output")
        spec = {"inputs": {"waveform": {"dtype": "float32", "shape": [-1],
                                        "sample_rate": transformed.properties["sample_rate"],
                                        "description": "one mono clip, samples in [-1, 1]"}},
                "outputs": {"transcript": {"dtype": "string", "shape": []}},
                "decoder": output.decoder, "beam_width": output.beam_width}
        serving_export.save(server, path, spec)
        return spec

    def example_input(self, transformed):
        from seqline.components.tasks.speech.data import load_audio

        return load_audio(split_pattern(transformed.uri, "test"), limit=1)[0][1]
