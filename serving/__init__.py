"""``seqline serve``: a TensorFlow Serving compatible REST server for exported models.

``servables`` loads one model version (SavedModel with TensorFlow, ``.tflite`` with LiteRT),
``xla`` runs SavedModel signatures XLA-compiled per batch-size bucket, ``registry`` finds and
hot-swaps versions under the base path, ``payload`` parses and validates predict requests,
``batching`` merges concurrent requests into shared model calls, ``metrics`` counts for Prometheus,
``server`` is the HTTP front end.
"""
