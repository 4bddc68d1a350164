"""What every page uses: rendering with the navigation, flash messages, form checks that
say what is wrong, server-side paging and the time format."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from orbitmq import __version__
from orbitmq.client.admin import ClusterInfo
from orbitmq.dashboard.security import console_of, csrf_token, current_user, route_path

T = TypeVar("T")

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

# (label, path): rocketmq-dashboard's navigation, in its order.
NAVIGATION = (
    ("OPS", "/ops"),
    ("Dashboard", "/"),
    ("Cluster", "/cluster"),
    ("Topic", "/topic"),
    ("Consumer", "/consumer"),
    ("Producer", "/producer"),
    ("Message", "/message"),
    ("DLQMessage", "/dlq"),
    ("MessageTrace", "/trace"),
)

_TOPIC_NAME = re.compile(r"^[%|a-zA-Z0-9_-]+$")
TOPIC_NAME_MAX = 127
PAGE_SIZE = 50


class FormError(ValueError):
    """A form field is missing or wrong; the text says which and why."""


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    console = console_of(request)
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    base = {
        "nav": NAVIGATION,
        "root": request.scope.get("root_path", ""),
        "path": route_path(request.scope),
        "user": current_user(request),
        "csrf_token": csrf_token(request),
        "namesrv_addr": console.namesrv_addr,
        "flashes": flashes,
        "version": __version__,
        "login_required": console.config.needs_login,
    }
    return TEMPLATES.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )


def flash(request: Request, kind: str, text: str) -> None:
    """A message shown once on the next page (kind: ok, error, warn)."""
    request.session.setdefault("flash", []).append({"kind": kind, "text": text})


def redirect(request: Request, path: str) -> RedirectResponse:
    """303 to a path of ours, relative to where the console is mounted."""
    return RedirectResponse(request.scope.get("root_path", "") + path, status_code=303)


def field(form: FormData, name: str, label: str | None = None, *, required: bool = True) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise FormError(f"{label or name} is required.")
    return text


def int_field(form: FormData, name: str, label: str, low: int, high: int) -> int:
    text = field(form, name, label)
    try:
        value = int(text)
    except ValueError:
        raise FormError(f"{label} must be a whole number, not {text!r}.") from None
    if not low <= value <= high:
        raise FormError(f"{label} must be between {low} and {high}, not {value}.")
    return value


def check_topic_name(topic: str) -> str:
    """RocketMQ's Validators.checkTopic, with its wording."""
    if not topic:
        raise FormError("Topic name is required.")
    if len(topic.encode()) > TOPIC_NAME_MAX:
        raise FormError(f"Topic name is longer than {TOPIC_NAME_MAX} characters.")
    if not _TOPIC_NAME.match(topic):
        raise FormError(
            f"Topic name {topic!r} contains characters outside [%|a-zA-Z0-9_-] "
            "(letters, digits, %, |, _ and -)."
        )
    return topic


def check_group_name(group: str) -> str:
    if not group:
        raise FormError("Group name is required.")
    if len(group.encode()) > 255 or not _TOPIC_NAME.match(group):
        raise FormError(f"Group name {group!r} must be at most 255 characters of [%|a-zA-Z0-9_-].")
    return group


def chosen_masters(
    info: ClusterInfo, clusters: Iterable[str], brokers: Iterable[str], why_master: str
) -> list[tuple[str, str]]:
    """(broker name, master address) of every broker of `clusters` and of `brokers`,
    sorted by name.

    Raises:
        FormError: an unknown cluster or broker, or a broker set without a master (the
            message ends with `why_master`).
    """
    names: set[str] = set()
    for cluster in clusters:
        if cluster not in info.cluster_addr_table:
            known = ", ".join(sorted(info.cluster_addr_table)) or "none"
            raise FormError(f"Cluster {cluster!r} is unknown (clusters: {known}).")
        names.update(info.cluster_addr_table[cluster])
    for broker in brokers:
        if broker not in info.broker_addr_table:
            known = ", ".join(sorted(info.broker_addr_table)) or "none"
            raise FormError(f"Broker {broker!r} is unknown (brokers: {known}).")
        names.add(broker)
    masters = []
    for name in sorted(names):
        data = info.broker_addr_table.get(name)
        if data is None or data.master_addr is None:
            raise FormError(f"Broker {name} has no master online; {why_master}")
        masters.append((name, data.master_addr))
    return masters


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a server-side list."""

    items: Sequence[Any]
    number: int
    count: int
    total: int

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count


def paginate(items: Sequence[T], request: Request, size: int = PAGE_SIZE) -> Page:
    try:
        number = max(int(request.query_params.get("page", "1")), 1)
    except ValueError:
        number = 1
    count = max(math.ceil(len(items) / size), 1)
    number = min(number, count)
    start = (number - 1) * size
    return Page(items[start : start + size], number, count, len(items))


def format_ms(ms: int | float | None) -> str:
    """A store/born timestamp in local time, as the console shows times."""
    if not ms or ms <= 0:
        return "-"
    seconds = ms / 1000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{int(ms) % 1000:03d}"


TEMPLATES.env.filters["ms"] = format_ms
