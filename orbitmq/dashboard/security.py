"""Who is asking, and whether they may: login (when the console is bound to a non-loopback
address, or told so), read-only users, and CSRF tokens on every change.

Every change is a POST carrying the session's CSRF token (form field `csrf_token` or header
`X-CSRF-Token`). Tokens are checked per action by `checked_form` rather than in a
middleware, so the form body is read once, by the handler that uses it.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orbitmq.dashboard.users import User

if TYPE_CHECKING:
    from orbitmq.dashboard.context import Console

SESSION_USER = "user"
SESSION_CSRF = "csrf"
SESSION_STAMP = "stamp"
# A session cookie is good for a working day, then the user logs in again.
SESSION_MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Reachable without a session: the login form itself, /metrics, which Prometheus scrapes
# without credentials as it does rocketmq-exporter's, and our static files. Exact paths,
# so that no route added later (/metrics-admin, /login-as) is open by accident.
OPEN_PATHS = ("/login", "/metrics")
OPEN_PREFIXES = ("/static/",)
LOCAL_ADMIN = User("local", True)
# token_urlsafe(48) gives 64; anything shorter was cut (a crash while writing it).
MIN_SESSION_KEY_CHARS = 32


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def session_secret(data_dir: Path) -> str:
    """A per-installation signing key for session cookies, kept so restarts keep sessions.

    An empty or cut key file (a crash, a full disk) is replaced: signing with it would let
    anyone forge a session cookie. The file is written whole, then renamed into place.
    """
    path = data_dir / "session.key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if len(key) >= MIN_SESSION_KEY_CHARS:
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return key


def route_path(scope: Scope) -> str:
    """The path below the console's root: behind a reverse proxy serving it under a
    prefix (`--root-path`), ASGI paths carry that prefix and `root_path` names it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def console_of(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def current_user(request: Request) -> User | None:
    console = console_of(request)
    if not console.config.needs_login:
        return LOCAL_ADMIN
    name = request.session.get(SESSION_USER)
    stamp = request.session.get(SESSION_STAMP)
    if not isinstance(name, str) or not isinstance(stamp, str):
        return None
    return console.users.lookup(name, stamp)


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def checked_form(request: Request, *, admin: bool = True) -> FormData:
    """The POSTed form, once its CSRF token matched and (for changes) the user is an admin.

    Raises:
        HTTPException: 403 naming what is wrong.
    """
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get(SESSION_CSRF)
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise HTTPException(403, "The form's CSRF token is missing or stale: reload the page.")
    user = current_user(request)
    if admin and (user is None or not user.is_admin):
        who = user.name if user else "anonymous"
        raise HTTPException(403, f"User {who} is read-only and cannot change anything.")
    return form


class LoginRequiredMiddleware:
    """Sends people without a session to the login page (JSON callers get 401)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = route_path(scope)
        if is_open_path(path) or current_user(request):
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        response: Response
        if "application/json" in request.headers.get("accept", ""):
            response = JSONResponse({"error": "login required"}, status_code=401)
        else:
            target = path + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
            response = RedirectResponse(f"{root}/login?next={quote(target)}", status_code=303)
        await response(scope, receive, send)
