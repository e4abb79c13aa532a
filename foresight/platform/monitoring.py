"""Prometheus metrics. One registry per process-level ``Metrics`` (tests make their own)."""

from __future__ import annotations

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
)

__all__ = ["PROMETHEUS_CONTENT_TYPE", "Metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.drift_psi = Gauge(
            "foresight_drift_psi",
            "PSI of a feature's recent inputs against the training reference",
            ["model", "feature"],
            registry=r,
        )
        self.drift_share = Gauge(
            "foresight_drift_share",
            "Share of a model's features that drifted",
            ["model"],
            registry=r,
        )
        self.model_accuracy = Gauge(
            "foresight_model_accuracy",
            "A model's metric on the outcomes posted back (latest check)",
            ["model", "metric"],
            registry=r,
        )
        # CPU seconds, resident memory, open file descriptors, start time; Python version.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(GC_COLLECTOR)

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

    def render(self) -> bytes:
        return generate_latest(self.registry)
