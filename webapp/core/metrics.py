"""Prometheus metrics: request counts and latency, plus figures gathered when /metrics is scraped.

Counters and histograms live in REGISTRY (one per process). Figures read from the database or
Redis at scrape time are added by capabilities with `add_scrape_collector(app, fn)`: `fn` yields
prometheus_client metric families and runs inside the app context of the scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
EXTENSION_KEY = "gantry.scrape_collectors"

REQUESTS = Counter(
    "gantry_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "gantry_http_request_seconds", "Time to answer an HTTP request", ["method", "endpoint"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ScrapeCollector = Callable[[], Iterable[Metric]]


class _AppCollector(Collector):
    """Runs the scrape collectors of the app that is answering /metrics."""

    def collect(self) -> Iterable[Metric]:
        try:
            collectors: list[ScrapeCollector] = current_app.extensions.get(EXTENSION_KEY, [])
        except RuntimeError:  # no app context (e.g. registry inspected outside a request)
            return
        for collect in collectors:
            try:
                yield from collect()
            except Exception:  # a failing source must not hide the other figures
                current_app.logger.warning("metrics collector %s failed", collect.__name__, exc_info=True)


REGISTRY.register(_AppCollector())


def add_scrape_collector(app: Flask, collect: ScrapeCollector) -> None:
    app.extensions.setdefault(EXTENSION_KEY, []).append(collect)


def gauge(name: str, documentation: str, labels: list[str], values: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def render_metrics() -> Response:
    return Response(generate_latest(REGISTRY), mimetype="text/plain; version=0.0.4; charset=utf-8")


def init_app(app: Flask) -> None:
    app.extensions.setdefault(EXTENSION_KEY, [])

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def count_request(response: Any) -> Any:
        started = g.pop("request_started", None)
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if started is not None:
            LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response
