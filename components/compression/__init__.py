"""Compression of a trained model into serving and edge variants (used by the Compressor).

``catalog`` names the variants, ``variants`` builds, runs and measures each of them with
``keras_twin`` (rebuilds a Keras 3 model with ``tf_keras`` layers), ``serving_variants`` (the
Keras-side SavedModel variants), ``tflite_export`` (LiteRT conversion), ``pruning`` (TFMOT pruning
and clustering), ``runtimes`` (each variant in the runtime it ships to) and ``measure`` (sizes and
latencies); ``selection`` picks a variant per target within the accuracy budget and ``report``
prints and saves the trade-off table.
"""
