"""One topic's views: Status (every queue's min/max offset and last store time on every
broker of the route), Router, Consumer manage (the groups consuming it and their
progress, fetched only here), Send message (a real producer, SELF_TEST_P_GROUP) and Reset
offset. Its list, config view, create and delete are in topic.py."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.admin.commands.offset import reset_offset_old
from orbitmq.client import Message, Producer, SendResult
from orbitmq.client.admin_bodies import OffsetWrapper
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.message import MessageQueue
from orbitmq.client.route import TopicRouteData
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console, describe_error
from orbitmq.dashboard.pages.common import (
    FormError,
    check_group_name,
    check_topic_name,
    field,
    flash,
    paginate,
    render,
)
from orbitmq.dashboard.security import checked_form, console_of

SELF_TEST_P_GROUP = "SELF_TEST_P_GROUP"  # rocketmq-dashboard's producer for Send message
RESET_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def topic_param(request: Request) -> str:
    """The `topic` query parameter, checked. Raises HTTPException 400 naming the fault."""
    try:
        return check_topic_name(request.query_params.get("topic", "").strip())
    except FormError as exc:
        raise HTTPException(400, str(exc)) from None


async def route_of(
    console: Console, topic: str
) -> tuple[TopicRouteData | None, list[BrokerFailure]]:
    try:
        return await console.bounded(console.admin.topic_route(topic)), []
    except CALL_ERRORS as exc:
        return None, [console.namesrv_failure(exc)]


def route_targets(route: TopicRouteData | None) -> list[tuple[str, str]]:
    """(broker name, address) per broker set of the route: its master, else a slave."""
    if route is None:
        return []
    return sorted(
        (b.broker_name, addr) for b in route.broker_datas if (addr := b.select_addr()) is not None
    )


def detail(request: Request, template: str, topic: str, view: str, **context: Any) -> Response:
    return render(request, template, topic=topic, view=view, **context)


# Status and Router ---------------------------------------------------------------------
async def topic_status_page(request: Request) -> Response:
    console = console_of(request)
    topic = topic_param(request)
    route, failures = await route_of(console, topic)
    answers, more = await console.each(
        route_targets(route), lambda addr: console.admin.get_topic_stats_info(addr, topic)
    )
    rows = sorted(
        ((mq, offset) for table in answers.values() for mq, offset in table.items()),
        key=lambda item: item[0],
    )
    return detail(
        request,
        "topic_status.html",
        topic,
        "status",
        rows=rows,
        total=sum(o.max_offset - o.min_offset for _, o in rows),
        failures=failures + more,
    )


async def topic_route_page(request: Request) -> Response:
    console = console_of(request)
    topic = topic_param(request)
    route, failures = await route_of(console, topic)
    return detail(request, "topic_route.html", topic, "route", route=route, failures=failures)


# Consumer manage -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GroupProgress:
    """A group's offsets of the topic over every broker of the route (#297)."""

    group: str
    queues: list[tuple[MessageQueue, OffsetWrapper]]
    tps: float
    failures: list[BrokerFailure]

    @property
    def lag(self) -> int:
        return sum(w.diff for _, w in self.queues)


async def group_progress(
    console: Console, targets: list[tuple[str, str]], group: str, topic: str
) -> GroupProgress:
    answers, failures = await console.each(
        targets, lambda addr: console.admin.get_consume_stats(addr, group, topic)
    )
    queues = sorted(
        (
            (mq, w)
            for stats in answers.values()
            for mq, w in stats.offset_table.items()
            if mq.topic == topic
        ),
        key=lambda item: item[0],
    )
    return GroupProgress(group, queues, sum(s.consume_tps for s in answers.values()), failures)


async def topic_consumers_page(request: Request) -> Response:
    console = console_of(request)
    topic = topic_param(request)
    route, failures = await route_of(console, topic)
    targets = route_targets(route)
    answers, more = await console.each(
        targets, lambda addr: console.admin.topic_consume_by_who_in_broker(addr, topic)
    )
    page = paginate(sorted({g for groups in answers.values() for g in groups}), request)
    progress = await asyncio.gather(
        *(group_progress(console, targets, group, topic) for group in page.items)
    )
    return detail(
        request,
        "topic_consumers.html",
        topic,
        "consumers",
        page=page,
        progress=progress,
        failures=failures + more,
    )


# Send message --------------------------------------------------------------------------
async def send_test_message(
    console: Console, topic: str, tag: str, key: str, body: str
) -> SendResult:
    """One message from a producer of SELF_TEST_P_GROUP started for it, as
    rocketmq-dashboard's sendTopicMessage does."""
    producer = Producer(
        SELF_TEST_P_GROUP,
        console.namesrv_addr,
        send_timeout=console.config.admin_timeout,
        instance_name=f"dashboard-{time.time_ns()}",  # concurrent sends stay apart
        credentials=console.config.credentials,
    )
    async with producer:
        return await producer.send(
            Message(topic, body.encode(), tags=tag or None, keys=key or None)
        )


async def topic_send_page(request: Request) -> Response:
    topic = topic_param(request)
    values = {"tag": "", "key": "", "body": ""}
    return detail(request, "topic_send.html", topic, "send", values=values, result=None)


async def topic_send_submit(request: Request) -> Response:
    # rocketmq-dashboard lets normal users send; here read-only users change nothing.
    form = await checked_form(request)
    console = console_of(request)
    topic = topic_param(request)
    body = form.get("body")
    values = {
        "tag": field(form, "tag", required=False),
        "key": field(form, "key", required=False),
        "body": body if isinstance(body, str) else "",  # sent as typed, spaces included
    }
    result: SendResult | None = None
    try:
        if not values["body"].strip():
            raise FormError("Message body is required.")
        # start, send and unregister: each within the admin timeout
        result = await asyncio.wait_for(
            send_test_message(console, topic, values["tag"], values["key"], values["body"]),
            console.config.admin_timeout * 3,
        )
    except FormError as exc:
        flash(request, "error", str(exc))
    except CALL_ERRORS as exc:
        reason = describe_error(exc, console.config.admin_timeout * 3)
        flash(request, "error", f"Message to {topic} not sent: {reason}")
    else:
        flash(request, "ok", f"Sent to {topic}: {result.status}, msgId {result.msg_id}.")
    return detail(request, "topic_send.html", topic, "send", values=values, result=result)


# Reset offset --------------------------------------------------------------------------
def parse_reset_time(text: str) -> int:
    """`now` (-1: every queue's end), ms since the epoch, or a date and time in the
    console's time zone (2024-05-01 10:00:00; the T form and no seconds are accepted)."""
    text = text.strip()
    if not text:
        raise FormError("Reset time is required.")
    if text.lower() == "now":
        return -1
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise FormError(
            f"Reset time {text!r} is not a date and time such as 2024-05-01 10:00:00, "
            "milliseconds since the epoch, or now."
        ) from None


@dataclass(frozen=True, slots=True)
class ResetRow:
    mq: MessageQueue
    before: int | None  # the committed offset, known on the fallback path only
    after: int


async def reset_offsets(
    console: Console, topic: str, group: str, timestamp: int, force: bool
) -> tuple[list[ResetRow], bool]:
    """INVOKE_BROKER_TO_RESET_OFFSET; with no consumer of the group online, the offsets
    written here per queue instead (GET_CONSUME_STATS, SEARCH_OFFSET_BY_TIMESTAMP,
    UPDATE_CONSUMER_OFFSET). Returns the rows and whether the fallback ran."""
    try:
        table = await console.admin.reset_offset_by_time(topic, group, timestamp, force)
    except ConsumerNotOnlineError:
        rows = await reset_offset_old(console.admin, group, topic, timestamp, force)
        return [ResetRow(mq, consumer, rollback) for mq, _, consumer, _, rollback in rows], True
    return [ResetRow(mq, None, offset) for mq, offset in table.items()], False


def _reset_values(group: str = "", when: str = "", force: bool = True) -> dict[str, Any]:
    return {"group": group, "time": when or time.strftime(RESET_TIME_FORMAT), "force": force}


async def _groups_of(console: Console, topic: str) -> list[str]:
    route, _ = await route_of(console, topic)
    answers, _ = await console.each(
        route_targets(route), lambda addr: console.admin.topic_consume_by_who_in_broker(addr, topic)
    )
    return sorted({g for groups in answers.values() for g in groups})


async def topic_reset_page(request: Request) -> Response:
    topic = topic_param(request)
    groups = await _groups_of(console_of(request), topic)
    return detail(
        request,
        "topic_reset.html",
        topic,
        "reset",
        values=_reset_values(),
        groups=groups,
        rows=None,
    )


async def topic_reset_submit(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    topic = topic_param(request)
    values = _reset_values(
        field(form, "group", required=False),
        # "Skip accumulate" (rocketmq-dashboard's name) is a reset to every queue's end.
        "now" if form.get("skip") else field(form, "time", required=False),
        form.get("force") == "on" or bool(form.get("skip")),
    )
    rows: list[ResetRow] | None = None
    budget = console.config.admin_timeout * 4
    try:
        group = check_group_name(values["group"])
        timestamp = parse_reset_time(values["time"])
        rows, fallback = await asyncio.wait_for(
            reset_offsets(console, topic, group, timestamp, values["force"]), budget
        )
    except FormError as exc:
        flash(request, "error", str(exc))
    except CALL_ERRORS as exc:
        flash(request, "error", f"Offsets not reset: {describe_error(exc, budget)}")
    else:
        how = (
            f"no consumer of {group} is online, so the console wrote the offsets itself"
            if fallback
            else "its online consumers restart from there"
        )
        flash(request, "ok", f"Reset {group} on {topic}: {len(rows)} queues moved; {how}.")
    groups = await _groups_of(console, topic)
    return detail(
        request, "topic_reset.html", topic, "reset", values=values, groups=groups, rows=rows
    )


ROUTES: list[BaseRoute] = [
    Route("/topic/status", topic_status_page),
    Route("/topic/route", topic_route_page),
    Route("/topic/consumers", topic_consumers_page),
    Route("/topic/send", topic_send_page),
    Route("/topic/send", topic_send_submit, methods=["POST"]),
    Route("/topic/reset", topic_reset_page),
    Route("/topic/reset", topic_reset_submit, methods=["POST"]),
]
