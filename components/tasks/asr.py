"""Speech recognition: audio clips with transcripts -> a model that turns a raw waveform into text."""
from __future__ import annotations

from components.split_io import split_pattern
from components.tasks.base import Task, train_eval_datasets
from pipeline.errors import ConfigError


class AsrTask(Task):
    """Manifest/folder audio split by speaker, log-mel/MFCC features in the transform graph,
    convolutional + recurrent CTC model, CER/WER next to a most-frequent-transcript baseline,
    waveform-to-transcript serving signature."""

    name = "asr"
    loss_label = "CTC loss (nats per clip)"
    compression_module = "components.tasks.asr_compression"

    def example_gen(self, params, examples, quarantine, ctx):
        from components.tasks.audio_gen import generate

        return generate(params, examples, quarantine, ctx)

    def statistics_view(self, examples):
        from components.tasks.statistics_views import audio_view

        return audio_view

    def transform(self, params, examples, graph, transformed, ctx):
        from components.tasks.asr_transform import run_transform

        return run_transform(params, examples, graph, transformed, ctx)

    def datasets(self, transformed, training):
        from components.tasks.asr_data import make_dataset

        return train_eval_datasets(make_dataset, transformed, training,
                                   augment=transformed.properties.get("spec_augment"))

    def build_model(self, model_cfg, transformed, name):
        from models.ctc import build_ctc_model, total_stride

        props = transformed.properties
        stride = total_stride(model_cfg)
        if stride > props["max_total_stride"]:
            raise ConfigError(
                f"model.conv_stride: {model_cfg['conv_layers']} conv layer(s) of stride "
                f"{model_cfg['conv_stride']} shorten clips {stride}x, but the tightest train/eval "
                f"clip allows at most {props['max_total_stride']}x for CTC; lower model.conv_stride "
                "or model.conv_layers")
        return build_ctc_model(model_cfg, props["n_features"], props["vocabulary_size"], name=name)

    def compile_args(self, transformed):
        from models.ctc import CTCLoss

        return {"loss": CTCLoss()}

    def evaluate(self, params, transformed, graph, model_path, evaluation, ctx):
        from components.tasks.asr_evaluate import evaluate

        return evaluate(params, transformed, graph, model_path, evaluation, ctx)

    def export(self, graph, model_path, transformed, path):
        import tensorflow as tf

        from components import serving_export
        from components.tasks.asr_export import SpeechServer
        from models.ctc import load_ctc_model

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
        from components.tasks.asr_data import load_audio

        return load_audio(split_pattern(transformed.uri, "test"), limit=1)[0][1]
