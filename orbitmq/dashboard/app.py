"""The console's ASGI application: Starlette routes from the page modules, Jinja2
templates, sessions, login and CSRF, our static files and the charting library's script
as installed from PyPI (plotly ships plotly.min.js)."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from orbitmq.dashboard.context import Console
from orbitmq.dashboard.pages import (
    cluster,
    consumer,
    dashboard,
    dlq,
    login,
    message,
    metrics,
    ops,
    producer,
    topic,
    trace,
)
from orbitmq.dashboard.pages.common import render
from orbitmq.dashboard.security import SESSION_MAX_AGE_SECONDS, LoginRequiredMiddleware

PAGE_MODULES = (
    login,
    ops,
    dashboard,
    cluster,
    topic,
    consumer,
    producer,
    message,
    dlq,
    trace,
    metrics,
)
STATIC_DIR = resources.files("orbitmq.dashboard") / "static"

def _plotly_assets() -> Path:
    """plotly's package_data folder, found without importing plotly (slow to import)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the plotly package is missing: reinstall orbitmq's dependencies")
    return Path(spec.origin).parent / "package_data"


PLOTLY_DIR = _plotly_assets()
SESSION_COOKIE = "orbitmq_console"


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    if "session" not in request.scope:  # failed before the session middleware ran
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        status=exc.status_code,
        detail=exc.detail,
    )


def create_app(console: Console) -> Starlette:
    routes: list[BaseRoute] = [
        Mount("/static/vendor/plotly", StaticFiles(directory=str(PLOTLY_DIR)), name="plotly"),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    for module in PAGE_MODULES:
        routes.extend(module.ROUTES)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=console.session_key,
                max_age=SESSION_MAX_AGE_SECONDS,
                session_cookie=SESSION_COOKIE,
                same_site="strict",
            ),
            Middleware(LoginRequiredMiddleware),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.console = console
    return app
