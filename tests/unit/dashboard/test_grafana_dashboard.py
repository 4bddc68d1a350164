"""docs/grafana-orbitmq.json: a Grafana dashboard model whose queries name only metrics
OrbitMQ exports: the console's (its exporter's families) and the brokers' (the names the
broker metrics collector gives its families)."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import orbitmq.broker.metrics.collector as broker_collector
from orbitmq.dashboard.exporter import FAMILY_NAMES, families

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana-orbitmq.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_METRIC = re.compile(r"\brocketmq_[a-z0-9_]+")
# Sample names prometheus-client derives from a family name (histograms, counters).
_SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def console_names() -> set[str]:
    return {f.name for f in families(None)}


def broker_names() -> set[str]:
    """Every family of the broker's collector is named by a string literal in it."""
    return set(re.findall(r'"(rocketmq_[a-z0-9_]+)"', inspect.getsource(broker_collector)))


def exported(name: str, names: set[str]) -> bool:
    return name in names or any(name.endswith(s) and name[: -len(s)] in names for s in _SUFFIXES)


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["query"]["query"]))
    return found


def test_grafana_dashboard_names_only_metrics_orbitmq_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = console_names() | broker_names()
    assert console_names() == set(FAMILY_NAMES)
    assert {"rocketmq_messages_in_total", "rocketmq_rpc_latency"} <= broker_names()
    used = set()
    for where, expr in _queries(dashboard):
        metrics = set(_METRIC.findall(expr))
        assert metrics, f"{where}: {expr!r} names no metric"
        unknown = {m for m in metrics if not exported(m, names)}
        assert not unknown, f"{where}: {sorted(unknown)} are not exported by OrbitMQ"
        used |= metrics
    assert {
        "rocketmq_group_diff",
        "rocketmq_producer_tps",
        "rocketmq_consumer_tps",
        "rocketmq_messages_in_total",
        "rocketmq_rpc_latency_bucket",
        "rocketmq_storage_flush_behind_bytes",
        "rocketmq_consumer_lag_messages",
    } <= used
    assert any(m.startswith("rocketmq_brokeruntime_") for m in used)


def test_grafana_dashboard_is_a_model_with_a_prometheus_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["refId"]
