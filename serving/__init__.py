"""``seqline serve``: a TensorFlow Serving compatible REST server for exported models.

``servables`` loads one model version (SavedModel with TensorFlow, ``.tflite`` with LiteRT),
``xla`` runs SavedModel signatures XLA-compiled per batch-size bucket, ``registry`` finds and
hot-swaps versions under the base path, ``payload`` parses and validates predict requests,
``batching`` merges concurrent requests into shared model calls (``loop_calls`` on an event loop),
``metrics`` counts for Prometheus, ``routes`` decides what a request asks for and is answered,
``http1`` reads request heads as the standard library does, ``event_loop`` is the default HTTP
front end (one thread for every connection), ``server`` picks it or the threading one and runs it.
"""
