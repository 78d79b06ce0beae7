"""The server's Prometheus metrics (``GET /monitoring/prometheus/metrics``, as TF Serving's path).

Counted: requests to ``/v1/models/...`` and their errors (status >= 400) by model, version and
status code, their latency, and per model call its examples (the batch size after merging) and
duration. Read from the registry when scraped: the loaded versions and the load failures. A model
label is only ever a served model's name ("" for a request naming none), so clients cannot grow
the label sets.
"""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from seqline.serving.registry import ModelRegistry

PATH = "/monitoring/prometheus/metrics"
LATENCY_BUCKETS = (.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10)
BATCH_BUCKETS = tuple(2 ** i for i in range(11))     # 1 .. 1024 examples


class Metrics:
    """One server's metrics, in a registry of their own (several servers may share a process)."""

    def __init__(self, models: ModelRegistry):
        self.registry = CollectorRegistry()
        labels = ["model", "version", "code"]
        self.requests = Counter("seqline_serving_requests", "Requests to /v1/models by status code",
                                labels, registry=self.registry)
        self.errors = Counter("seqline_serving_request_errors",
                              "Requests to /v1/models answered with a 4xx or 5xx status", labels,
                              registry=self.registry)
        self.latency = Histogram("seqline_serving_request_latency_seconds",
                                 "Time from a request's headers to its answer sent",
                                 ["model", "version"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("seqline_serving_batch_size",
                                    "Examples per model call (requests merged by batching)",
                                    ["model", "version"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.call_seconds = Histogram("seqline_serving_model_call_seconds", "Duration of a model call",
                                      ["model", "version"], buckets=LATENCY_BUCKETS,
                                      registry=self.registry)
        self.registry.register(_Models(models))
        self._models = models

    def count(self, model: str | None, version: int | None, status: int, seconds: float) -> None:
        """Count one request to ``/v1/models``; ``model`` is kept only if it is served."""
        model = model if model in self._models.snapshot else ""
        version = "" if version is None else str(version)
        self.requests.labels(model, version, str(status)).inc()
        if status >= 400:
            self.errors.labels(model, version, str(status)).inc()
        self.latency.labels(model, version).observe(seconds)

    def model_call(self, model: str, version: int) -> Callable[[int, float], None]:
        """``observe(rows, seconds)`` for the model calls of one version."""
        size = self.batch_size.labels(model, str(version))
        duration = self.call_seconds.labels(model, str(version))

        def observe(rows: int, seconds: float) -> None:
            size.observe(rows)
            duration.observe(seconds)
        return observe

    def exposition(self, accept: str | None) -> tuple:
        """``(body, content type)``: the text format, or OpenMetrics if ``accept`` asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _Models:
    """The registry's state at scrape time: one gauge per loaded version, load failures."""

    def __init__(self, models: ModelRegistry):
        self.models = models

    def collect(self):
        loaded = GaugeMetricFamily("seqline_serving_version_loaded",
                                   "1 for each model version being served", labels=["model", "version",
                                                                                     "kind"])
        for name, model in sorted(self.models.snapshot.items()):
            for version, servable in sorted(model.versions.items()):
                loaded.add_metric([name, str(version), servable.kind], 1)
        failures = CounterMetricFamily("seqline_serving_load_failures",
                                       "Attempts to load a model version that failed", labels=["model"])
        for name, count in sorted(self.models.load_failures.items()):
            failures.add_metric([name], count)
        return [loaded, failures]
