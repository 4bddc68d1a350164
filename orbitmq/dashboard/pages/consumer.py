"""Consumer: every subscription group the masters know, online or not, with its clients,
TPS and lag (from the list's cache, see consumer_cache); per group its clients, progress
per queue and config, read live; create/update and delete forms."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.admin.tables import version_desc
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console
from orbitmq.dashboard.pages.common import (
    FormError,
    check_group_name,
    chosen_masters,
    field,
    flash,
    paginate,
    redirect,
    render,
)
from orbitmq.dashboard.pages.consumer_cache import GroupCache
from orbitmq.dashboard.pages.consumer_form import (
    DEFAULTS,
    NUMBERS,
    Targets,
    checked,
    config_form_values,
    form_values,
    posted_targets,
    read_group_config,
    read_targets,
)
from orbitmq.dashboard.pages.consumer_group import (
    NameServerFailure,
    load_client,
    load_configs,
    load_progress,
)
from orbitmq.dashboard.pages.consumer_model import ListQuery, select_rows
from orbitmq.dashboard.pages.consumer_write import Outcome, delete_group, save_group
from orbitmq.dashboard.security import checked_form, console_of

VIEWS = ("client", "detail", "config")
NO_MASTER_HINT = "choose another broker."


def group_cache(request: Request) -> GroupCache:
    """The list's cache, one per running console."""
    state = request.app.state
    cache = getattr(state, "consumer_groups", None)
    if cache is None:
        cache = state.consumer_groups = GroupCache()
    return cache  # type: ignore[no-any-return]


def format_age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def group_link(group: str, view: str) -> str:
    return "/consumer/group?" + urlencode({"group": group, "view": view})


# List --------------------------------------------------------------------------------------
async def consumer_list(request: Request) -> Response:
    console = console_of(request)
    cache = group_cache(request)
    snap = await cache.get(console)
    query = ListQuery.of(request.query_params)
    page = paginate(select_rows(snap.rows, query), request)
    return render(
        request,
        "consumer.html",
        page=page,
        query=query,
        snap=snap,
        age=format_age(snap.age()),
        refreshing=cache.refreshing,
        failures=snap.failures,
    )


def list_url(form: FormData) -> str:
    """The list as it was (`back`: its query string), rebuilt from its known parameters so
    the redirect only ever goes to the list."""
    back = form.get("back")
    params = dict(parse_qsl(back if isinstance(back, str) else ""))
    url = "/consumer?" + ListQuery.of(params).query_string()
    number = params.get("page", "")
    return url + f"page={number}" if number.isdigit() else url


async def refresh_list(request: Request) -> Response:
    form = await checked_form(request, admin=False)
    await group_cache(request).refresh(console_of(request))
    return redirect(request, list_url(form))


async def refresh_group(request: Request) -> Response:
    """A row's Refresh (changes nothing, so read-only users may use it too)."""
    form = await checked_form(request, admin=False)
    try:
        group = check_group_name(field(form, "group", "Group name"))
        row, failures = await group_cache(request).refresh_group(console_of(request), group)
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, list_url(form))
    except NameServerFailure as exc:
        flash(request, "error", str(exc.failure))
        return redirect(request, list_url(form))
    if row is None:
        flash(request, "warn", f"Group {group} is not in the list; Refresh the whole list.")
    else:
        flash(request, "ok", f"Group {group} refreshed: {row.clients} client(s), lag {row.lag}.")
    for failure in failures:
        flash(request, "warn", f"Broker {failure}")
    return redirect(request, list_url(form))


# One group ---------------------------------------------------------------------------------
async def group_page(request: Request) -> Response:
    console = console_of(request)
    group = request.query_params.get("group", "").strip()
    view = request.query_params.get("view", "client")
    view = view if view in VIEWS else "client"
    try:
        check_group_name(group)
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, "/consumer")
    context: dict[str, Any] = {
        "group": group,
        "view": view,
        "failures": [],
        "version_desc": version_desc,
    }
    try:
        if view == "client":
            context["connection"], context["failures"] = await load_client(console, group)
        elif view == "detail":
            context["progress"], context["failures"] = await load_progress(console, group)
        else:
            context["configs"], context["failures"] = await load_configs(console, group)
    except NameServerFailure as exc:
        context["failures"] = [exc.failure]
    return render(request, "consumer_group.html", **context)


# Create / update ---------------------------------------------------------------------------
async def _cluster_choices(console: Console) -> tuple[dict[str, list[str]], list[BrokerFailure]]:
    """Cluster name -> its broker names, for the form's target boxes."""
    try:
        info = await console.cluster_info()
    except CALL_ERRORS as exc:
        return {}, [console.namesrv_failure(exc)]
    return {c: sorted(b) for c, b in sorted(info.cluster_addr_table.items())}, []


async def _edit_form(
    request: Request,
    values: dict[str, Any],
    targets: Targets,
    *,
    editing: bool = False,
) -> Response:
    clusters, failures = await _cluster_choices(console_of(request))
    return render(
        request,
        "consumer_edit.html",
        values=values,
        targets=targets,
        editing=editing,
        clusters=clusters,
        numbers=NUMBERS,
        failures=failures,
    )


async def edit_page(request: Request) -> Response:
    """The create form, or the update form of `?group=` filled from a broker's config."""
    group = request.query_params.get("group", "").strip()
    values = dict(DEFAULTS)
    targets = Targets((), ())
    if group:
        try:
            configs, _ = await load_configs(console_of(request), group)
        except NameServerFailure:
            configs = []
        having = [c for c in configs if c.config is not None]
        values = config_form_values(having[0].config or {}) if having else values
        values["groupName"] = group
        targets = Targets((), tuple(c.name for c in having))
    return await _edit_form(request, values, targets, editing=bool(group))


async def save_page(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    targets = posted_targets(form)
    try:
        config = read_group_config(form)
        targets = read_targets(form)
        masters = chosen_masters(
            await console.cluster_info(), targets.clusters, targets.brokers, NO_MASTER_HINT
        )
    # The form again, as filled in, under the message (status 200: browsers log a 4xx
    # answer to a form as a failed resource).
    except FormError as exc:
        flash(request, "error", str(exc))
        return await _edit_form(request, form_values(form), targets)
    except CALL_ERRORS as exc:
        flash(request, "error", str(console.namesrv_failure(exc)))
        return await _edit_form(request, form_values(form), targets)
    outcome = await save_group(console, config, masters)
    group_cache(request).invalidate()
    _flash_outcome(request, outcome, f"Group {config['groupName']} saved")
    return redirect(request, group_link(config["groupName"], "config"))


# Delete ------------------------------------------------------------------------------------
async def delete_page(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    try:
        group = check_group_name(field(form, "group", "Group name"))
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, "/consumer")
    try:
        targets = posted_targets(form)
        if not targets.brokers:
            raise FormError("Choose at least one broker to delete the group from.")
        masters = chosen_masters(await console.cluster_info(), (), targets.brokers, NO_MASTER_HINT)
    except FormError as exc:
        flash(request, "error", str(exc))
        return redirect(request, group_link(group, "config"))
    except CALL_ERRORS as exc:
        flash(request, "error", str(console.namesrv_failure(exc)))
        return redirect(request, group_link(group, "config"))
    outcome = await delete_group(console, group, masters, checked(form, "topics"))
    group_cache(request).invalidate()
    _flash_outcome(request, outcome, f"Group {group} deleted (offsets removed)")
    return redirect(request, "/consumer" if not outcome.failures else group_link(group, "config"))


def _flash_outcome(request: Request, outcome: Outcome, what: str) -> None:
    for kind, text in outcome.messages(what):
        flash(request, kind, text)


ROUTES: list[BaseRoute] = [
    Route("/consumer", consumer_list),
    Route("/consumer/refresh", refresh_list, methods=["POST"]),
    Route("/consumer/refresh-group", refresh_group, methods=["POST"]),
    Route("/consumer/group", group_page),
    Route("/consumer/edit", edit_page),
    Route("/consumer/edit", save_page, methods=["POST"]),
    Route("/consumer/delete", delete_page, methods=["POST"]),
]
