"""Log in and out (only when the console requires login)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.dashboard.pages.common import redirect, render
from orbitmq.dashboard.security import SESSION_STAMP, SESSION_USER, checked_form, console_of

_DEFAULT_NEXT = "/"


def _safe_next(target: str) -> str:
    """Only paths of ours: never an absolute URL (an open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else _DEFAULT_NEXT


async def login_page(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "login.html", next=_safe_next(request.query_params.get("next", "")))
    form = await checked_form(request, admin=False)
    name = str(form.get("username") or "")
    target = _safe_next(str(form.get("next") or ""))
    user = console_of(request).users.authenticate(name, str(form.get("password") or ""))
    if user is None:
        # 200, not 401: a browser logs a 401 page load as an error in its console.
        return render(
            request,
            "login.html",
            next=target,
            error="Unknown user name or wrong password.",
        )
    # A new session (so a new CSRF token): nothing known about the old one carries over.
    request.session.clear()
    request.session[SESSION_USER] = user.name
    request.session[SESSION_STAMP] = console_of(request).users.stamp(user.name)
    return redirect(request, target)


async def logout(request: Request) -> Response:
    await checked_form(request, admin=False)
    request.session.clear()
    return redirect(request, "/login")


ROUTES: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
