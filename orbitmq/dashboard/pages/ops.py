"""Ops: the NameServer list the console uses; switch to another or add one. The choice is
kept under the console's data directory."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.dashboard.pages.common import FormError, field, flash, redirect, render
from orbitmq.dashboard.security import checked_form, console_of

_ADDR = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def check_namesrv_list(text: str) -> str:
    """`host:port;host:port`, as namesrvAddr; the normalised text."""
    parts = [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]
    if not parts:
        raise FormError("NameServer address is required (host:port, several separated by ;).")
    for part in parts:
        port = part.rpartition(":")[2]
        if not _ADDR.match(part) or not 0 < int(port) < 65536:
            raise FormError(f"{part!r} is not host:port.")
    return ";".join(parts)


async def ops_page(request: Request) -> Response:
    console = console_of(request)
    return render(request, "ops.html", choices=console.namesrv_choices)


async def switch_namesrv(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    try:
        addr = check_namesrv_list(field(form, "namesrv_addr", "NameServer address"))
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, "/ops")
    await console.switch_namesrv(addr)
    flash(request, "ok", f"Now using NameServer list {addr}.")
    return redirect(request, "/ops")


ROUTES: list[BaseRoute] = [
    Route("/ops", ops_page),
    Route("/ops/namesrv", switch_namesrv, methods=["POST"]),
]
