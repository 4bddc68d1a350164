"""The broker's Prometheus endpoint (metricsExporterType=PROM): `/metrics` on
metricsPromExporterHost:metricsPromExporterPort, served by the broker's own event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, make_asgi_app

from orbitmq.broker.metrics.collector import BrokerCollector
from orbitmq.broker.metrics.counters import BrokerMetrics
from orbitmq.broker.metrics.labels import parse_metrics_label
from orbitmq.http_serving import AsgiServer, serve_asgi

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

METRICS_PATHS = ("/metrics", "/")


def metrics_app(registry: CollectorRegistry) -> Any:
    """An ASGI app answering GET /metrics (and /) from `registry`, 404 elsewhere."""
    prometheus_app = make_asgi_app(registry)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("path") in METRICS_PATHS:
            await prometheus_app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"metrics are at /metrics\n"})

    return app


class MetricsExporter:
    def __init__(self, broker: BrokerController, metrics: BrokerMetrics) -> None:
        config = broker.config
        self.host = config.metrics_prom_exporter_host or config.broker_ip1
        self.registry = CollectorRegistry()
        self.registry.register(
            BrokerCollector(broker, metrics, parse_metrics_label(config.metrics_label))
        )
        self._server: AsgiServer | None = None

    async def start(self, port: int) -> int:
        """Serve on self.host:`port`; return the bound port.

        Raises:
            HttpServeError: the address cannot be bound.
        """
        self._server = await serve_asgi(
            metrics_app(self.registry), self.host, port, name="metrics exporter", lifespan="off"
        )
        return self._server.port

    async def aclose(self) -> None:
        if self._server is not None:
            await self._server.aclose()
            self._server = None
