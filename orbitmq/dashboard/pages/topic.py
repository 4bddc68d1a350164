"""Topic: every topic of the cluster, searched, filtered by kind and paged on the server;
create or update one on a cluster or chosen brokers; delete one everywhere. The per-topic
views (status, route, consumers, config, send, reset offset) are in topic_detail.py.

The list merges every master's GET_ALL_TOPIC_CONFIG with the NameServer's topic list, and
is kept for TOPIC_LIST_TTL seconds in the console process: a page of 5,000 topics costs
one call per master, not one per topic (rocketmq-dashboard #123, #281).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.admin.commands.topic import ORDER_TOPIC_CONFIG
from orbitmq.broker.message_type import MESSAGE_TYPE_ATTRIBUTE, TopicMessageType
from orbitmq.broker.topic_config import is_system_topic
from orbitmq.client.admin import ClusterInfo
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console
from orbitmq.dashboard.pages import topic_detail
from orbitmq.dashboard.pages.common import (
    FormError,
    check_topic_name,
    chosen_masters,
    field,
    flash,
    int_field,
    paginate,
    redirect,
    render,
)
from orbitmq.dashboard.pages.topic_detail import topic_param
from orbitmq.dashboard.security import checked_form, console_of
from orbitmq.protocol.perm import perm_to_string
from orbitmq.protocol.topics import DLQ_GROUP_TOPIC_PREFIX, is_retry_topic

T = TypeVar("T")

TOPIC_LIST_TTL = 5.0
QUEUE_NUMS_MAX = 1024
PERMS = {2: "2 (W)", 4: "4 (R)", 6: "6 (RW)"}
KINDS = {"normal": "Normal", "retry": "Retry", "dlq": "DLQ", "system": "System"}
# What the form offers for RocketMQ 5's `message.type` (rocketmq-dashboard's messageType).
MESSAGE_TYPES = tuple(t.value for t in TopicMessageType if t is not TopicMessageType.UNSPECIFIED)


# The list ------------------------------------------------------------------------------
def topic_kind(topic: str, system_topics: frozenset[str]) -> str:
    """normal, retry (%RETRY%group), dlq (%DLQ%group) or system (RocketMQ's system
    topics and `system_topics`)."""
    if is_retry_topic(topic):
        return "retry"
    if topic.startswith(DLQ_GROUP_TOPIC_PREFIX):
        return "dlq"
    if is_system_topic(topic, system_topics):
        return "system"
    return "normal"


@dataclass(frozen=True, slots=True)
class TopicRow:
    name: str
    kind: str
    # broker name -> the TopicConfig its master holds (GET_ALL_TOPIC_CONFIG's JSON)
    configs: dict[str, dict[str, Any]]

    def _each(self, key: str) -> list[int]:
        return [int(c.get(key, 0)) for c in self.configs.values()]

    @property
    def write_queue_nums(self) -> int:
        return sum(self._each("writeQueueNums"))

    @property
    def read_queue_nums(self) -> int:
        return sum(self._each("readQueueNums"))

    @property
    def perms(self) -> str:
        return " ".join(sorted({perm_to_string(p) for p in self._each("perm")})) or "-"

    @property
    def order(self) -> bool:
        return any(c.get("order") for c in self.configs.values())


@dataclass(frozen=True, slots=True)
class TopicList:
    rows: list[TopicRow]
    info: ClusterInfo
    failures: list[BrokerFailure]

    def row(self, topic: str) -> TopicRow | None:
        return next((r for r in self.rows if r.name == topic), None)


def merge_topics(
    configs: dict[str, dict[str, Any]],
    namesrv_topics: Iterable[str],
    system_topics: frozenset[str],
) -> list[TopicRow]:
    """One row per topic known to a master (broker name -> its topicConfigTable) or to
    the NameServer, sorted by name."""
    by_topic: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in namesrv_topics}
    for broker_name, table in configs.items():
        for topic, config in table.items():
            by_topic.setdefault(str(topic), {})[broker_name] = dict(config or {})
    return [
        TopicRow(name, topic_kind(name, system_topics), dict(sorted(by_broker.items())))
        for name, by_broker in sorted(by_topic.items())
    ]


def filter_topics(rows: Sequence[TopicRow], query: str, kind: str) -> list[TopicRow]:
    """Rows whose name holds `query` (any case) and of `kind` ("" for every kind)."""
    needle = query.strip().lower()
    return [
        r for r in rows if (not kind or r.kind == kind) and (not needle or needle in r.name.lower())
    ]


async def _system_topics(console: Console, info: ClusterInfo) -> frozenset[str]:
    """The NameServer's list (if it answers) with the cluster and broker names, which
    brokers register as topics and RocketMQ's list includes; topic_kind adds RocketMQ's
    own system topics."""
    try:
        listed = await console.bounded(console.admin.get_system_topic_list_from_ns())
    except CALL_ERRORS:
        listed = []
    return frozenset(listed).union(info.cluster_addr_table, info.broker_addr_table)


async def load_topic_list(console: Console) -> TopicList:
    failures: list[BrokerFailure] = []

    async def from_namesrv(call: Awaitable[T]) -> T | None:
        try:
            return await console.bounded(call)
        except CALL_ERRORS as exc:
            failures.append(console.namesrv_failure(exc))
            return None

    info, names = await asyncio.gather(
        from_namesrv(console.admin.cluster_info()), from_namesrv(console.admin.topic_list())
    )
    if info is None:
        return TopicList([], ClusterInfo({}, {}), failures[:1])
    masters = sorted(
        (name, data.master_addr)
        for name, data in info.broker_addr_table.items()
        if data.master_addr is not None
    )
    (answers, broker_failures), system = await asyncio.gather(
        console.each(masters, console.admin.get_all_topic_config),
        _system_topics(console, info),
    )
    configs = {
        name: answers[addr].get("topicConfigTable") or {}
        for name, addr in masters
        if addr in answers
    }
    rows = merge_topics(configs, names or [], system)
    return TopicList(rows, info, failures + broker_failures)


class TopicListCache:
    """The merged list, reloaded when older than `ttl` or after a change made here; one
    reload at a time, which the requests arriving meanwhile share."""

    def __init__(self, ttl: float = TOPIC_LIST_TTL) -> None:
        self.ttl = ttl
        self._lock = asyncio.Lock()
        self._value: TopicList | None = None
        self._key = ""
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._value = None

    def _fresh(self, key: str) -> TopicList | None:
        if self._key == key and time.monotonic() - self._loaded_at < self.ttl:
            return self._value
        return None

    async def get(self, console: Console) -> TopicList:
        key = console.namesrv_addr  # the Ops page may switch NameServer lists
        if (value := self._fresh(key)) is not None:
            return value
        async with self._lock:
            if (value := self._fresh(key)) is not None:
                return value
            value = await load_topic_list(console)
            self._value, self._key, self._loaded_at = value, key, time.monotonic()
            return value


def topic_cache(request: Request) -> TopicListCache:
    state = request.app.state
    if not hasattr(state, "topic_list_cache"):
        state.topic_list_cache = TopicListCache()
    cache: TopicListCache = state.topic_list_cache
    return cache


async def topic_list_page(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()
    kind = request.query_params.get("kind", "")
    kind = kind if kind in KINDS else ""
    listing = await topic_cache(request).get(console_of(request))
    page = paginate(filter_topics(listing.rows, query, kind), request)
    kept = {k: v for k, v in (("q", query), ("kind", kind)) if v}
    return render(
        request,
        "topic.html",
        page=page,
        q=query,
        kind=kind,
        kinds=KINDS,
        page_query=urlencode(kept) + "&" if kept else "",
        failures=listing.failures,
    )


# Create or update ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TopicForm:
    topic: str
    write_queue_nums: int
    read_queue_nums: int
    perm: int
    order: bool
    message_type: str
    clusters: list[str]
    brokers: list[str]


def parse_topic_form(form: FormData) -> TopicForm:
    """The create/update form's values.

    Raises:
        FormError: the first field that is missing or wrong, and why.
    """
    topic = check_topic_name(field(form, "topic", "Topic name", required=False))
    write = int_field(form, "write_queue_nums", "Write queue number", 1, QUEUE_NUMS_MAX)
    read = int_field(form, "read_queue_nums", "Read queue number", 1, QUEUE_NUMS_MAX)
    perm_text = field(form, "perm", "Perm")
    if perm_text not in {str(p) for p in PERMS}:
        raise FormError(
            f"Perm must be 2 (write), 4 (read) or 6 (read and write), not {perm_text!r}."
        )
    message_type = str(form.get("message_type") or TopicMessageType.NORMAL)
    if message_type not in MESSAGE_TYPES:
        raise FormError(
            f"Message type must be one of {', '.join(MESSAGE_TYPES)}, not {message_type!r}."
        )
    clusters = sorted({str(c).strip() for c in form.getlist("cluster") if str(c).strip()})
    brokers = sorted({str(b).strip() for b in form.getlist("broker") if str(b).strip()})
    if not clusters and not brokers:
        raise FormError("Choose a cluster or at least one broker to create the topic on.")
    return TopicForm(
        topic,
        write,
        read,
        int(perm_text),
        form.get("order") == "on",
        message_type,
        clusters,
        brokers,
    )


def outcome_text(action: str, done: Sequence[str], failures: Sequence[BrokerFailure]) -> str:
    """The flash text of a change made on several servers: which applied it, which
    failed and why."""
    failed = "; ".join(str(f) for f in failures)
    if not failures:
        return f"{action} on {', '.join(done)}."
    if not done:
        return f"{action} failed on {failed}."
    return f"{action} on {', '.join(done)}; failed on {failed}."


def _form_values(form: FormData | None, row: TopicRow | None) -> dict[str, Any]:
    if form is not None:
        return {
            "topic": form.get("topic", ""),
            "write_queue_nums": form.get("write_queue_nums", ""),
            "read_queue_nums": form.get("read_queue_nums", ""),
            "perm": form.get("perm", "6"),
            "order": form.get("order") == "on",
            "message_type": form.get("message_type", TopicMessageType.NORMAL),
            "clusters": form.getlist("cluster"),
            "brokers": form.getlist("broker"),
        }
    first = next(iter(row.configs.values()), {}) if row else {}
    return {
        "topic": row.name if row else "",
        "write_queue_nums": first.get("writeQueueNums", 8),
        "read_queue_nums": first.get("readQueueNums", 8),
        "perm": str(first.get("perm", 6)),
        "order": bool(first.get("order")),
        "message_type": (first.get("attributes") or {}).get(
            MESSAGE_TYPE_ATTRIBUTE, TopicMessageType.NORMAL
        ),
        "clusters": [],
        "brokers": list(row.configs) if row else [],
    }


async def _edit_page(
    request: Request, form: FormData | None = None, error: str | None = None
) -> Response:
    listing = await topic_cache(request).get(console_of(request))
    topic = request.query_params.get("topic", "")
    values = _form_values(form, listing.row(topic) if topic and form is None else None)
    return render(
        request,
        "topic_edit.html",
        values=values,
        error=error,
        perms=PERMS,
        message_types=MESSAGE_TYPES,
        queue_max=QUEUE_NUMS_MAX,
        info=listing.info,
        failures=listing.failures,
    )


async def topic_edit_page(request: Request) -> Response:
    return await _edit_page(request)


async def topic_edit_submit(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    cache = topic_cache(request)
    try:
        spec = parse_topic_form(form)
        targets = chosen_masters(
            await console.cluster_info(),
            spec.clusters,
            spec.brokers,
            "topics are created on masters.",
        )
    except FormError as exc:
        return await _edit_page(request, form, str(exc))
    except CALL_ERRORS as exc:
        return await _edit_page(request, form, f"Nothing created: {console.namesrv_failure(exc)}")
    admin = console.admin
    answers, failures = await console.each(
        targets,
        lambda addr: admin.create_topic(
            addr,
            spec.topic,
            spec.read_queue_nums,
            spec.write_queue_nums,
            spec.perm,
            spec.order,
            attributes=f"+{MESSAGE_TYPE_ATTRIBUTE}={spec.message_type}",
        ),
    )
    done = [name for name, addr in targets if addr in answers]
    if spec.order and done:
        conf = ";".join(f"{name}:{spec.write_queue_nums}" for name in done)
        try:
            await console.bounded(admin.put_kv_config(ORDER_TOPIC_CONFIG, spec.topic, conf))
        except CALL_ERRORS as exc:
            failures.append(console.namesrv_failure(exc))
    cache.invalidate()
    kind = "error" if not done else "warn" if failures else "ok"
    flash(request, kind, outcome_text(f"Topic {spec.topic} created or updated", done, failures))
    return redirect(request, "/topic?" + urlencode({"q": spec.topic}))


# Topic config -------------------------------------------------------------------------
def _config_value(value: Any) -> Any:
    """A TopicConfig field as the page shows it: attributes as `key=value` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
    return value


async def topic_config_page(request: Request) -> Response:
    """Each master's config of the topic, side by side (from the cached list)."""
    topic = topic_param(request)
    listing = await topic_cache(request).get(console_of(request))
    row = listing.row(topic)
    configs = row.configs if row else {}
    keys = sorted({key for config in configs.values() for key in config})
    table = [(key, [_config_value(configs[b].get(key, "-")) for b in configs]) for key in keys]
    return render(
        request,
        "topic_config.html",
        topic=topic,
        view="config",
        brokers=list(configs),
        table=table,
        failures=listing.failures,
    )


# Delete --------------------------------------------------------------------------------
async def topic_delete(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    try:
        topic = check_topic_name(field(form, "topic", "Topic name", required=False))
        masters = await console.masters()
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, "/topic")
    except CALL_ERRORS as exc:
        flash(request, "error", f"Topic not deleted: {console.namesrv_failure(exc)}")
        return redirect(request, "/topic")
    admin = console.admin
    deleted, failures = await console.each(
        masters, lambda addr: admin.delete_topic_in_broker(addr, topic)
    )
    namesrvs = [("NameServer", addr) for addr in admin.namesrv_addrs]
    cleared, ns_failures = await console.each(
        namesrvs, lambda addr: admin.delete_topic_in_one_namesrv(addr, topic)
    )
    topic_cache(request).invalidate()
    done = [name for name, addr in masters if addr in deleted]
    done += [f"NameServer {addr}" for _, addr in namesrvs if addr in cleared]
    text = outcome_text(f"Topic {topic} deleted", done, failures + ns_failures)
    if failures:
        text += " A broker that still holds the topic registers it again within 30 s."
    flash(request, "error" if not done else "warn" if failures or ns_failures else "ok", text)
    return redirect(request, "/topic")


ROUTES: list[BaseRoute] = [
    Route("/topic", topic_list_page),
    Route("/topic/edit", topic_edit_page),
    Route("/topic/edit", topic_edit_submit, methods=["POST"]),
    Route("/topic/config", topic_config_page),
    Route("/topic/delete", topic_delete, methods=["POST"]),
    *topic_detail.ROUTES,
]
