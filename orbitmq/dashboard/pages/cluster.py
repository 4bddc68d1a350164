"""Cluster: every broker (masters and slaves) with its version, TPS, disk use and message
counts, from GET_BROKER_CLUSTER_INFO and GET_BROKER_RUNTIME_INFO; its runtime status and
configuration on a detail page (GET_BROKER_CONFIG)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, describe_error
from orbitmq.dashboard.pages.common import render
from orbitmq.dashboard.security import console_of


def first_number(value: str | None) -> float:
    """The 10-second figure of a runtime TPS string such as "12.5 10.0 9.8"."""
    try:
        return float((value or "").split()[0])
    except (IndexError, ValueError):
        return 0.0


def whole(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class BrokerRow:
    cluster: str
    name: str
    broker_id: int
    addr: str
    version: str
    in_tps: float
    out_tps: float
    disk_ratio: str
    produced_today: int
    consumed_today: int
    produced_yesterday: int
    consumed_yesterday: int
    runtime: str


def broker_row(cluster: str, name: str, broker_id: int, addr: str, kv: dict[str, str]) -> BrokerRow:
    out = kv.get("getTransferredTps") or kv.get("getTransferedTps")
    ratio = kv.get("commitLogDiskRatio")
    return BrokerRow(
        cluster=cluster,
        name=name,
        broker_id=broker_id,
        addr=addr,
        version=kv.get("brokerVersionDesc", "-"),
        in_tps=first_number(kv.get("putTps")),
        out_tps=first_number(out),
        disk_ratio=f"{float(ratio) * 100:.1f} %" if ratio else "-",
        produced_today=whole(kv.get("msgPutTotalTodayNow"))
        - whole(kv.get("msgPutTotalTodayMorning")),
        consumed_today=whole(kv.get("msgGetTotalTodayNow"))
        - whole(kv.get("msgGetTotalTodayMorning")),
        produced_yesterday=whole(kv.get("msgPutTotalTodayMorning"))
        - whole(kv.get("msgPutTotalYesterdayMorning")),
        consumed_yesterday=whole(kv.get("msgGetTotalTodayMorning"))
        - whole(kv.get("msgGetTotalYesterdayMorning")),
        runtime=kv.get("runtime", "-"),
    )


async def cluster_page(request: Request) -> Response:
    console = console_of(request)
    try:
        info = await console.cluster_info()
    except CALL_ERRORS as exc:
        return render(request, "cluster.html", rows=[], failures=[console.namesrv_failure(exc)])
    cluster_of = {
        broker: cluster
        for cluster, brokers in info.cluster_addr_table.items()
        for broker in brokers
    }
    brokers = sorted(
        (name, broker_id, addr)
        for name, data in info.broker_addr_table.items()
        for broker_id, addr in data.broker_addrs.items()
    )
    answers, failures = await console.each(
        ((f"{name}:{broker_id}", addr) for name, broker_id, addr in brokers),
        console.admin.get_broker_runtime_info,
    )
    rows = [
        broker_row(cluster_of.get(name, "-"), name, broker_id, addr, answers.get(addr, {}))
        for name, broker_id, addr in brokers
    ]
    return render(
        request,
        "cluster.html",
        rows=rows,
        failures=failures,
        silent={f.addr for f in failures},
    )


async def broker_detail(request: Request) -> Response:
    console = console_of(request)
    addr = request.query_params.get("addr", "")
    view = request.query_params.get("view", "status")
    if view not in ("status", "config"):
        view = "status"
    call = (
        console.admin.get_broker_config
        if view == "config"
        else console.admin.get_broker_runtime_info
    )
    table: list[tuple[str, str]] = []
    failures: list[BrokerFailure] = []
    try:
        known = {a for _, _, a in await console.all_brokers()} if addr else set()
    except CALL_ERRORS as exc:
        failures.append(console.namesrv_failure(exc))
        return render(request, "broker.html", addr=addr, view=view, table=table, failures=failures)
    if addr not in known:
        failures.append(BrokerFailure("broker", addr or "-", "is not a broker of this cluster"))
    else:
        try:
            table = sorted((await console.bounded(call(addr))).items())
        except CALL_ERRORS as exc:
            failures.append(
                BrokerFailure("broker", addr, describe_error(exc, console.config.admin_timeout))
            )
    return render(request, "broker.html", addr=addr, view=view, table=table, failures=failures)


ROUTES: list[BaseRoute] = [
    Route("/cluster", cluster_page),
    Route("/cluster/broker", broker_detail),
]
