"""Compression of a trained model into serving and edge variants (used by the Compressor).

``catalog`` names the variants, ``keras_twin`` rebuilds a Keras 3 model with ``tf_keras`` layers,
``serving_variants`` builds the Keras-side SavedModel variants, ``tflite_export`` converts to
LiteRT, ``pruning`` prunes and clusters with TFMOT, ``runtimes`` runs each variant in the runtime
it ships to, ``measure`` takes sizes and latencies, ``selection`` picks a variant per target
within the accuracy budget and ``report`` prints and saves the trade-off table.
"""
