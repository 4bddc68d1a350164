"""MessageTrace: the send and consume trace of a message, found by message id or key in the
trace topic (QUERY_MESSAGE on the trace topic: trace messages are indexed under the ids and
keys of the messages they are about)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.client import TopicNotExistError
from orbitmq.dashboard.context import CALL_ERRORS
from orbitmq.dashboard.message_view import MAX_BY_KEY
from orbitmq.dashboard.pages.common import FormError, check_topic_name, render
from orbitmq.dashboard.pages.message import failure_text
from orbitmq.dashboard.security import console_of
from orbitmq.dashboard.trace_view import MessageTraceView, trace_views


def missing_trace_topic(topic: str) -> str:
    return (
        f"Trace topic {topic} does not exist. Clients write traces only when tracing is on "
        "(enableMsgTrace / enable_trace=True), into a topic that exists: set the broker's "
        "traceTopicEnable=true, or create the topic."
    )


async def trace_page(request: Request) -> Response:
    console = console_of(request)
    trace_topic = request.query_params.get("trace_topic", "").strip() or console.config.trace_topic
    query = request.query_params.get("q", "").strip()
    views: list[MessageTraceView] | None = None
    error = notice = ""
    if query:
        try:
            check_topic_name(trace_topic)
            now = time.time_ns() // 1_000_000
            found = await console.bounded(
                console.admin.query_message(trace_topic, query, MAX_BY_KEY, 0, now)
            )
            views = trace_views(found, query)
            if not views:
                notice = f"No trace of {query} in {trace_topic}."
        except FormError as exc:
            error = str(exc)
        except TopicNotExistError:
            error = missing_trace_topic(trace_topic)
        except CALL_ERRORS as exc:
            error = failure_text(console, exc)
    return render(
        request, "trace.html", trace_topic=trace_topic, q=query, views=views, error=error,
        notice=notice,
    )  # fmt: skip


ROUTES: list[BaseRoute] = [Route("/trace", trace_page)]
