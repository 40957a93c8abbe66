"""Prometheus metrics of ``bert-cls serve``, named as TF Serving names them, served at
``GET /monitoring/prometheus/metrics`` on the REST port (``export/monitoring.config`` turns on the same
endpoint in the container).

Built on the official client library, ``prometheus_client``: one ``CollectorRegistry`` per server.

* ``:tensorflow:serving:request_count{model_name, status}``: requests by gRPC status name (``OK``,
  ``NOT_FOUND``, ``INVALID_ARGUMENT`` ...), for every API and entry point, as TF Serving counts them.
  Written by a small collector and exposed as ``untyped``: ``prometheus_client`` adds ``_total`` to the
  name of anything typed ``counter``, and the container's series has none, so queries written for the
  container (``rate(:tensorflow:serving:request_count[5m])``) work unchanged.
* ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: a histogram in microseconds;
  ``API`` is ``predict``, ``metadata`` or ``status``, ``entrypoint`` ``GRPC`` or ``REST``.

``model_name`` comes from a closed set: the configured models, and ``""`` for every request naming a model this
server does not serve. Request names are client input: labelled as sent, 300 made-up names would add 300 series.
"""

from __future__ import annotations

import contextlib
import threading
import time

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import Metric

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
METRICS_PATH = "/monitoring/prometheus/metrics"
# Microseconds, 10 us .. ~100 s in steps of 1.8x, as TF Serving's exponential buckets.
LATENCY_BUCKETS_US = tuple(10 * 1.8**k for k in range(28))


class _RequestCounts:
    """The request counter as a collector: ``{(model, status): n}`` under a lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}

    def add(self, model: str, status: str) -> None:
        with self._lock:
            self._counts[(model, status)] = self._counts.get((model, status), 0) + 1

    def totals(self) -> tuple:
        """``(requests, requests not OK)`` counted so far."""
        with self._lock:
            total = sum(self._counts.values())
            failed = sum(n for (_, status), n in self._counts.items() if status != "OK")
        return total, failed

    def collect(self):
        metric = Metric(REQUEST_COUNT, "The number of requests, by model and status.", "untyped")
        with self._lock:
            for (model, status), count in sorted(self._counts.items()):
                metric.add_sample(REQUEST_COUNT, {"model_name": model, "status": status}, count)
        yield metric


class _Outcome:
    status = "OK"


class ServingMetrics:
    """Request count and latency of one server."""

    def __init__(self, serves=lambda name: True):
        """``serves(name)``: whether ``name`` is a served model; other names are counted under ``""``."""
        self._serves = serves
        self.registry = CollectorRegistry(auto_describe=True)
        self._counts = _RequestCounts()
        self.registry.register(self._counts)
        self._latency = Histogram(
            REQUEST_LATENCY,
            "Request latency in microseconds, by model, API and entry point.",
            ["model_name", "API", "entrypoint"],
            buckets=LATENCY_BUCKETS_US,
            registry=self.registry,
        )

    @contextlib.contextmanager
    def time(self, model: str, api: str, entrypoint: str):
        """Counts and times the block; the caller sets ``outcome.status`` to the gRPC status name."""
        outcome, started = _Outcome(), time.perf_counter()
        try:
            yield outcome
        finally:
            label = model if model and self._serves(model) else ""
            self._latency.labels(label, api, entrypoint).observe((time.perf_counter() - started) * 1e6)
            self._counts.add(label, outcome.status)

    def totals(self) -> tuple:
        """``(requests, requests not OK)`` answered so far, every model and API."""
        return self._counts.totals()

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
