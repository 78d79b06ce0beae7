"""seqline: TFX-style pipelines for sequence models (Beam data stages, Keras 3 models, MLflow).

``python -m seqline`` runs the command line (:func:`seqline.pipeline.cli.main`).
"""
__version__ = "0.1.0"
