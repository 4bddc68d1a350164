"""DLQMessage: the dead letters of a consumer group (`%DLQ%<group>`) in a time range, their
detail, Resend (CONSUME_MESSAGE_DIRECTLY to an online member of the group), one by one or
selected, and Export of the selected or of all of them as JSON lines or CSV."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.client import TopicNotExistError
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console
from orbitmq.dashboard.dlq_export import FORMATS, export_text
from orbitmq.dashboard.message_resend import NoConsumerOnline, resend
from orbitmq.dashboard.message_search import read_pieces
from orbitmq.dashboard.message_view import view_by_offset_id
from orbitmq.dashboard.pages.common import (
    FormError,
    check_group_name,
    flash,
    redirect,
    render,
)
from orbitmq.dashboard.pages.message import (
    default_range,
    detail_context,
    failure_text,
    query_prefix,
    range_fields,
    search_task,
    time_query,
    time_range,
)
from orbitmq.dashboard.security import checked_form, console_of
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.topics import dlq_topic

MAX_RESEND = 100  # one batch resend at most; each waits for a consumer's listener
MAX_EXPORT = MAX_RESEND  # selected messages exported at once, each read one by one
MAX_LISTED_OUTCOMES = 10


def no_dead_letters(group: str) -> str:
    return f"Group {group} has no dead letters (there is no topic {dlq_topic(group)})."


async def dlq_page(request: Request) -> Response:
    console = console_of(request)
    params = request.query_params
    group = params.get("group", "").strip()
    begin, end = default_range()
    context: dict[str, object] = {"group": group, "results": None, "query": "", "task": ""}
    failures: list[BrokerFailure] = []
    error = notice = ""
    try:
        begin, end = time_range(params)
        if group:
            check_group_name(group)
            found = await time_query(console, params, dlq_topic(group), begin, end)
            failures, notice = found.failures, found.notice
            context.update(results=found.page, task=found.task.task_id)
            context["query"] = query_prefix(
                group=group, task=found.task.task_id, **range_fields(begin, end)
            )
    except FormError as exc:
        error = str(exc)
    except TopicNotExistError:
        notice = no_dead_letters(group)
    except CALL_ERRORS as exc:
        error = failure_text(console, exc)
    return render(
        request, "dlq.html", failures=failures, error=error, notice=notice,
        formats=FORMATS, **range_fields(begin, end), **context,
    )  # fmt: skip


async def dlq_detail(request: Request) -> Response:
    console = console_of(request)
    group = request.query_params.get("group", "").strip()
    offset_msg_id = request.query_params.get("id", "").strip()
    try:
        context = await detail_context(console, offset_msg_id)
    except CALL_ERRORS as exc:
        context = {"msg": None, "error": f"Message {offset_msg_id}: {failure_text(console, exc)}"}
    return render(
        request, "dlq_detail.html", group=group, offset_msg_id=offset_msg_id, formats=FORMATS,
        **context,
    )  # fmt: skip


def back_path(form: FormData) -> str:
    """Where a DLQ form came from; only DLQ pages of ours."""
    back = form.get("back")
    return back if isinstance(back, str) and back.startswith("/dlq") else "/dlq"


def selected_ids(form: FormData) -> list[str]:
    ids = [i.strip() for i in form.getlist("ids") if isinstance(i, str) and i.strip()]
    if not ids:
        raise FormError("Select at least one message.")
    return list(dict.fromkeys(ids))


async def resend_selected(console: Console, group: str, ids: list[str]) -> list[tuple[str, str]]:
    """(flash kind, text) per outcome: successes in one line, each failure on its own."""
    done: list[str] = []
    problems: list[str] = []
    clients: dict[str, str] = {}  # store host -> the member chosen there
    for offset_msg_id in ids:
        try:
            msg = await view_by_offset_id(console, offset_msg_id)
            host = f"{msg.store_host[0]}:{msg.store_host[1]}"
            outcome = await resend(console, msg, group, clients.get(host))
        except NoConsumerOnline as exc:
            problems.append(str(exc))
            break  # the next ones would find no member either
        except CALL_ERRORS as exc:
            problems.append(f"{offset_msg_id}: {failure_text(console, exc)}")
            continue
        clients[host] = outcome.client_id
        (done if outcome.result.consume_result == "CR_SUCCESS" else problems).append(
            outcome.describe()
        )
    flashes = []
    if done:
        listed = "; ".join(done[:MAX_LISTED_OUTCOMES])
        more = (
            f" and {len(done) - MAX_LISTED_OUTCOMES} more"
            if len(done) > MAX_LISTED_OUTCOMES
            else ""
        )
        flashes.append(
            ("ok", f"Resent {len(done)} of {len(ids)} to group {group}: {listed}{more}.")
        )
    flashes += [("error", p) for p in problems[:MAX_LISTED_OUTCOMES]]
    return flashes


async def dlq_resend(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    back = back_path(form)
    try:
        group = check_group_name(str(form.get("group") or "").strip())
        ids = selected_ids(form)
        if len(ids) > MAX_RESEND:
            raise FormError(f"Resend at most {MAX_RESEND} messages at once.")
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, back)
    for kind, text in await resend_selected(console, group, ids):
        flash(request, kind, text)
    return redirect(request, back)


def download(group: str, messages: list[MessageExt], fmt: str) -> Response:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Response(
        export_text(messages, fmt),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="dlq-{group}-{stamp}.{fmt}"'},
    )


def export_format(values: FormData | QueryParams) -> str:
    fmt = str(values.get("format") or "jsonl")
    if fmt not in FORMATS:
        raise FormError(f"Export format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    return fmt


async def export_selected(request: Request) -> Response:
    """POST: the ticked messages (read-only users may export too)."""
    form = await checked_form(request, admin=False)
    console = console_of(request)
    try:
        group = check_group_name(str(form.get("group") or "").strip())
        fmt = export_format(form)
        ids = selected_ids(form)
        if len(ids) > MAX_EXPORT:
            raise FormError(f"Export at most {MAX_EXPORT} messages at once.")
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, back_path(form))
    messages = []
    for offset_msg_id in ids:
        try:
            messages.append(await view_by_offset_id(console, offset_msg_id))
        except CALL_ERRORS as exc:
            flash(request, "error", f"{offset_msg_id}: {failure_text(console, exc)}")
            return redirect(request, back_path(form))
    return download(group, messages, fmt)


async def export_all(request: Request) -> Response:
    """GET: every message of the query (its task's ranges, at most the query's cap)."""
    console = console_of(request)
    params = request.query_params
    back = "/dlq?" + urlencode({k: v for k, v in params.items() if k != "format"})
    try:
        group = check_group_name(params.get("group", "").strip())
        fmt = export_format(params)
        begin, end = time_range(params)
        task, failures = await search_task(console, params, dlq_topic(group), begin, end)
        pieces = [(r, r.start, r.end) for r in task.ranges]
        messages, more = await read_pieces(console, pieces, begin, end)
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, back)
    except TopicNotExistError:
        flash(request, "warn", no_dead_letters(params.get("group", "")))
        return redirect(request, back)
    except CALL_ERRORS as exc:
        flash(request, "error", failure_text(console, exc))
        return redirect(request, back)
    if failures or more:
        missing = ", ".join(str(f) for f in failures + more)
        flash(request, "error", f"Not exported: brokers did not answer: {missing}")
        return redirect(request, back)
    return download(group, messages, fmt)


ROUTES: list[BaseRoute] = [
    Route("/dlq", dlq_page),
    Route("/dlq/message", dlq_detail),
    Route("/dlq/resend", dlq_resend, methods=["POST"]),
    Route("/dlq/export", export_all),
    Route("/dlq/export", export_selected, methods=["POST"]),
]
