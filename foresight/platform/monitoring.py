"""Prometheus metrics. One registry per process-level ``Metrics`` (tests make their own).

With several worker processes (``foresight serve --workers N``) the server sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start: counters, histograms and gauges
then live in memory-mapped files that every worker writes and any worker sums at a
scrape (prometheus-client's multiprocess mode), so a scrape shows the whole server, not
the one worker that answered it. Values computed at scrape time (:meth:`Metrics.gauge_function`)
and the process collectors describe the answering worker's view.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

__all__ = ["PROMETHEUS_CONTENT_TYPE", "Metrics", "prepare_multiprocess"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def prepare_multiprocess(directory: Path) -> None:
    """Use multiprocess mode in worker processes started after this call: an empty
    ``directory`` (stale files of a previous run would add to the counts) named in the
    environment the workers inherit. Call it before the workers start."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)


class _ScrapeGauge(Collector):
    def __init__(self, name: str, documentation: str, fn: Callable[[], float]) -> None:
        self.name, self.documentation, self.fn = name, documentation, fn

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.fn())


class _LabeledScrapeGauge(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        fn: Callable[[], dict[tuple[str, ...], float]],
    ) -> None:
        self.name, self.documentation, self.labels, self.fn = name, documentation, labels, fn

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        try:
            values = self.fn()
        except Exception:  # a store that is away: no sample beats a failed scrape
            values = {}
        for key, value in values.items():
            family.add_metric(list(key), value)
        yield family


class Metrics:
    """The platform's metrics: ``registry`` for counted values (shared by worker
    processes in multiprocess mode), ``local`` for values read at scrape time."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry()
        self.local = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "foresight_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "foresight_http_request_duration_seconds",
            "HTTP latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "foresight_http_errors_total", "HTTP 5xx answers", ["route"], registry=r
        )
        self.predictions = Counter(
            "foresight_predictions_total",
            "Predictions served",
            ["model", "version", "fallback"],
            registry=r,
        )
        self.fallbacks = Counter(
            "foresight_fallbacks_total", "Answers from a fallback", ["model", "level"], registry=r
        )
        self.cache = Counter(
            "foresight_cache_lookups_total", "Cache lookups", ["namespace", "result"], registry=r
        )
        self.jobs = Counter(
            "foresight_jobs_total", "Jobs finished", ["app", "kind", "status"], registry=r
        )
        self.rate_limited = Counter(
            "foresight_rate_limited_total", "Requests answered 429", registry=r
        )
        self.webhooks = Counter(
            "foresight_webhook_deliveries_total", "Webhook deliveries", ["status"], registry=r
        )
        self.outcomes = Counter(
            "foresight_outcomes_total", "Outcomes posted back", ["model"], registry=r
        )
        self.events_dropped = Counter(
            "foresight_events_dropped_total",
            "Telemetry events dropped unwritten (buffer full, refused by the log, or late)",
            registry=r,
        )
        self.drift_psi = Gauge(
            "foresight_drift_psi",
            "PSI of a feature's recent inputs against the training reference",
            ["model", "feature"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.drift_share = Gauge(
            "foresight_drift_share",
            "Share of a model's features that drifted",
            ["model"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.model_accuracy = Gauge(
            "foresight_model_accuracy",
            "A model's metric on the outcomes posted back (latest check)",
            ["model", "metric"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        # CPU seconds, resident memory, open file descriptors, start time; Python version
        # (of the answering process).
        ProcessCollector(registry=self.local)
        PlatformCollector(registry=self.local)
        self.local.register(GC_COLLECTOR)

        # Resolving a labelled child costs ~10 µs; the hot path reuses them.
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """The labelled child of ``metric``, created once."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.child(self.requests, method, route, str(status)).inc()
        self.child(self.latency, method, route).observe(seconds)
        if status >= 500:
            self.child(self.errors, route).inc()

    def on_cache_lookup(self, namespace: str, level: str) -> None:
        self.cache.labels(namespace, "miss" if level == "miss" else "hit").inc()

    def gauge_function(self, name: str, documentation: str, fn: Callable[[], float]) -> None:
        """A gauge whose value ``fn`` computes at each scrape (e.g. a count read from the
        database): right in every worker, so it is not summed across them."""
        self.local.register(_ScrapeGauge(name, documentation, fn))

    def labeled_gauge_function(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        fn: Callable[[], dict[tuple[str, ...], float]],
    ) -> None:
        """A gauge with labels whose samples ``fn`` computes at each scrape (label values
        → value); none when ``fn`` raises."""
        self.local.register(_LabeledScrapeGauge(name, documentation, labels, fn))

    def render(self) -> bytes:
        """The exposition text: every worker's counted values, then the scrape-time ones."""
        counted = self.registry
        if self.multiprocess_dir:
            counted = CollectorRegistry()
            multiprocess.MultiProcessCollector(counted, path=self.multiprocess_dir)
        return generate_latest(counted) + generate_latest(self.local)
