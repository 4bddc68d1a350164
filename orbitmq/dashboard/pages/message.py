"""Message: find messages by topic and time range (paged on the server), by topic and key,
or by message id; a message's detail with its track per consumer group, and Resend
(CONSUME_MESSAGE_DIRECTLY to an online member of a group)."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.client import MQBrokerError, TopicNotExistError
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console, describe_error
from orbitmq.dashboard.message_resend import NoConsumerOnline, resend
from orbitmq.dashboard.message_search import (
    SearchTask,
    TaskCache,
    page_slices,
    read_pieces,
    start_search,
)
from orbitmq.dashboard.message_track import message_tracks
from orbitmq.dashboard.message_view import (
    MAX_BY_KEY,
    body_view,
    find_by_id,
    header_fields,
    readable,
    view_by_offset_id,
)
from orbitmq.dashboard.pages.common import (
    PAGE_SIZE,
    FormError,
    Page,
    check_topic_name,
    flash,
    paginate,
    redirect,
    render,
)
from orbitmq.dashboard.pages.common import field as form_field
from orbitmq.dashboard.security import checked_form, console_of
from orbitmq.protocol.message import MessageExt

TABS = ("topic", "key", "id")
DEFAULT_RANGE_MS = 3600 * 1000
INPUT_TIME = "%Y-%m-%dT%H:%M:%S"
TASKS = TaskCache()


# Time fields --------------------------------------------------------------------------------
def input_time(ms: int) -> str:
    """A time as a datetime-local input shows it (local time, seconds)."""
    return time.strftime(INPUT_TIME, time.localtime(ms / 1000))


def parse_time(text: str, label: str) -> int:
    """Milliseconds of a local `YYYY-MM-DDTHH:MM[:SS]` (or with a space)."""
    try:
        return int(dt.datetime.fromisoformat(text.strip()).timestamp() * 1000)
    except ValueError:
        raise FormError(
            f"{label} must be a date and time such as 2024-05-01T10:00:00, not {text!r}."
        ) from None


def default_range() -> tuple[int, int]:
    """The last hour, up to the end of the current second."""
    now = time.time_ns() // 1_000_000
    end = now - now % 1000 + 1000
    return end - DEFAULT_RANGE_MS, end


def time_range(params: QueryParams) -> tuple[int, int]:
    """[begin, end) in ms of a query's `begin`/`end` fields, given to the second with End's
    second included (a message stored at 10:00:05.300 is in a range ending 10:00:05)."""
    _, default_end = default_range()
    end_text, begin_text = params.get("end", ""), params.get("begin", "")
    end = parse_time(end_text, "End") + 1000 if end_text else default_end
    begin = parse_time(begin_text, "Begin") if begin_text else end - DEFAULT_RANGE_MS
    if begin >= end:
        raise FormError("Begin must be before End.")
    return begin, end


def range_fields(begin: int, end: int) -> dict[str, str]:
    """The `begin`/`end` field values of a range from time_range."""
    return {"begin": input_time(begin), "end": input_time(end - 1000)}


# Topic + time range, shared with the DLQ page -------------------------------------------
@dataclass
class TimeQuery:
    task: SearchTask
    page: Page
    failures: list[BrokerFailure] = field(default_factory=list)

    @property
    def notice(self) -> str:
        if not self.task.cut:
            return ""
        return (
            f"The range holds {self.task.found} messages; the newest {self.task.total} are "
            "listed. Narrow the time range to see the others."
        )


def page_number(params: QueryParams) -> int:
    try:
        return max(int(params.get("page", "1")), 1)
    except ValueError:
        return 1


async def search_task(
    console: Console, params: QueryParams, topic: str, begin: int, end: int
) -> tuple[SearchTask, list[BrokerFailure]]:
    """The query's task: the one named by `task` if it is still kept and is this query,
    else a new search (kept only when every broker answered, so that a later page asks
    again a broker that did not).

    Raises:
        TopicNotExistError: `topic` has no route.
    """
    now = time.monotonic()
    task = TASKS.get(params.get("task", ""), now)
    if task is not None and (task.topic, task.begin, task.end, task.namesrv_addr) == (
        topic, begin, end, console.namesrv_addr,
    ):  # fmt: skip
        return task, []
    task, failures = await start_search(console, topic, begin, end)
    if not failures:
        TASKS.put(task)
    return task, failures


async def time_query(
    console: Console, params: QueryParams, topic: str, begin: int, end: int
) -> TimeQuery:
    """One page (50 messages, newest first within it) of a topic + time-range query."""
    task, failures = await search_task(console, params, topic, begin, end)
    count = max(math.ceil(task.total / PAGE_SIZE), 1)
    number = min(page_number(params), count)
    messages, more = await read_pieces(
        console, page_slices(task.ranges, number, PAGE_SIZE), begin, end
    )
    return TimeQuery(task, Page(messages, number, count, task.total), failures + more)


def query_prefix(**values: str) -> str:
    """Query string to put before `page=N` in pager links."""
    return urlencode({k: v for k, v in values.items() if v}) + "&"


def failure_text(console: Console, exc: BaseException) -> str:
    if isinstance(exc, MQBrokerError):
        return exc.remark or str(exc)
    return describe_error(exc, console.config.admin_timeout)


# Pages ------------------------------------------------------------------------------------------
async def message_page(request: Request) -> Response:
    console = console_of(request)
    params = request.query_params
    tab = params.get("tab", "topic")
    tab = tab if tab in TABS else "topic"
    topic = params.get("topic", "").strip()
    key = params.get("key", "").strip()
    msg_id = params.get("msg_id", "").strip()
    context: dict[str, object] = {"tab": tab, "topic": topic, "key": key, "msg_id": msg_id}
    results: Page | None = None
    failures: list[BrokerFailure] = []
    error = notice = query = ""
    begin, end = default_range()
    try:
        if tab == "topic":
            begin, end = time_range(params)
        if tab == "topic" and topic:
            check_topic_name(topic)
            found = await time_query(console, params, topic, begin, end)
            results, failures, notice = found.page, found.failures, found.notice
            query = query_prefix(
                tab=tab, topic=topic, task=found.task.task_id, **range_fields(begin, end)
            )
        elif tab == "key" and (topic or key):
            check_topic_name(topic)
            if not key:
                raise FormError("Key is required.")
            messages = await console.bounded(console.admin.query_message(topic, key, MAX_BY_KEY))
            messages = sorted(messages, key=lambda m: m.store_timestamp, reverse=True)
            results = paginate([readable(m) for m in messages], request)
            query = query_prefix(tab=tab, topic=topic, key=key)
        elif tab == "id" and msg_id:
            if topic:
                check_topic_name(topic)
            results = paginate(await find_by_id(console, topic, msg_id), request)
            query = query_prefix(tab=tab, topic=topic, msg_id=msg_id)
    except FormError as exc:
        error = str(exc)
    except TopicNotExistError:
        error = f"Topic {topic} does not exist."
    except CALL_ERRORS as exc:
        error = failure_text(console, exc)
    context.update(
        results=results, error=error, notice=notice, query=query,
        topics=await topic_names(console), **range_fields(begin, end),
    )  # fmt: skip
    return render(request, "message.html", failures=failures, **context)


async def topic_names(console: Console) -> list[str]:
    """For the topic field's suggestions; none when the NameServer does not answer."""
    try:
        return await console.bounded(console.admin.topic_list())
    except CALL_ERRORS:
        return []


async def detail_context(console: Console, offset_msg_id: str) -> dict[str, object]:
    """What message_detail.html shows of the message an offset message id names."""
    msg = await view_by_offset_id(console, offset_msg_id)
    return {
        "msg": msg,
        "fields": header_fields(msg),
        "properties": sorted(msg.properties.items()),
        "body": body_view(msg.body),
    }


async def message_detail(request: Request) -> Response:
    console = console_of(request)
    offset_msg_id = request.query_params.get("id", "").strip()
    try:
        context = await detail_context(console, offset_msg_id)
    except CALL_ERRORS as exc:
        return render(
            request, "message_detail.html", msg=None, offset_msg_id=offset_msg_id,
            error=f"Message {offset_msg_id}: {failure_text(console, exc)}",
        )  # fmt: skip
    msg = context["msg"]
    assert isinstance(msg, MessageExt)
    tracks, failures = await message_tracks(console, msg)
    return render(
        request, "message_detail.html", tracks=tracks, failures=failures,
        offset_msg_id=offset_msg_id, **context,
    )  # fmt: skip


async def resend_one(console: Console, offset_msg_id: str, group: str) -> tuple[str, str]:
    """(flash kind, text) of resending one message to `group`."""
    try:
        msg = await view_by_offset_id(console, offset_msg_id)
        outcome = await resend(console, msg, group)
    except NoConsumerOnline as exc:
        return "error", str(exc)
    except CALL_ERRORS as exc:
        return "error", f"Resend of {offset_msg_id} to group {group} failed: " + failure_text(
            console, exc
        )
    kind = "ok" if outcome.result.consume_result == "CR_SUCCESS" else "warn"
    return kind, outcome.describe()


async def message_resend(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    offset_msg_id = form_field(form, "id", required=False)
    try:
        group = form_field(form, "group", "Consumer group")
        form_field(form, "id", "Message")
    except FormError as exc:
        flash(request, "error", str(exc))
    else:
        flash(request, *await resend_one(console, offset_msg_id, group))
    return redirect(request, "/message/detail?" + urlencode({"id": offset_msg_id}))


ROUTES: list[BaseRoute] = [
    Route("/message", message_page),
    Route("/message/detail", message_detail),
    Route("/message/resend", message_resend, methods=["POST"]),
]
