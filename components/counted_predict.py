"""``model.predict`` that counts the rows it has scored for the progress display
(:mod:`seqline.pipeline.counters`), batch by batch, so a long evaluation shows a moving count."""
from __future__ import annotations

from seqline.pipeline import counters


def predict(model, x, batch_size: int, unit: str):
    """``model.predict(x, batch_size=batch_size)``, adding each batch's rows to ``unit`` (e.g.
    ``"windows scored"``) as it comes out."""
    import keras

    class CountRows(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            first = keras.tree.flatten(logs["outputs"])[0]
            counters.add(unit, int(first.shape[0]))

    return model.predict(x, batch_size=batch_size, verbose=0, callbacks=[CountRows()])
