"""/metrics: the cluster's figures as rocketmq-exporter's gauges, on the console's own
host and port, open to Prometheus without a login (security.OPEN_PATHS)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.dashboard.collector import FiguresCollector


def collector_of(request: Request) -> FiguresCollector:
    collector = getattr(request.app.state, "collector", None)
    if collector is None:
        raise HTTPException(503, "The figures collector is not running in this process.")
    return collector  # type: ignore[no-any-return]


async def metrics(request: Request) -> Response:
    # Thousands of series take a while to format: off the event loop, pages stay quick.
    body = await run_in_threadpool(generate_latest, collector_of(request).registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


ROUTES: list[BaseRoute] = [Route("/metrics", metrics)]
