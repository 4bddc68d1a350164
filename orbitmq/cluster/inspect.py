"""`orbitmq cluster logs` and `orbitmq cluster config-diff`: read-only looks at every host.

config-diff compares three things per process: the template as it is now (rendered for
its host, as `start` would write it), the file the process was started from (HOME/run on
its host: edited there, or started from an older template), and for a running broker its
live settings (GET_BROKER_CONFIG: changed at runtime by `mqadmin updateBrokerConfig`).
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time

from orbitmq.broker.config import BrokerConfig
from orbitmq.client.admin import MQAdmin
from orbitmq.cluster.fleet import Echo, Fleet, host_label
from orbitmq.cluster.template import ClusterPlan, ProcessSpec
from orbitmq.config_file import ConfigError, to_properties

__all__ = ["config_diff", "parse_since", "show_logs"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BROKER_DEFAULTS = to_properties(BrokerConfig())
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def parse_since(text: str, now: float) -> float:
    """`30s`, `10m`, `2h`, `1d` ago, or a local time `YYYY-MM-DD[ HH:MM[:SS]]`; epoch s.

    Raises:
        ConfigError: neither.
    """
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    for fmt in _TIME_FORMATS:
        try:
            return datetime.datetime.strptime(text.strip(), fmt).timestamp()
        except ValueError:
            continue
    raise ConfigError(f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d) nor a time")


def _select(plan: ClusterPlan, names: set[str]) -> list[ProcessSpec]:
    if not names:
        return list(plan.processes)
    chosen = [s for s in plan.processes if s.name in names or s.label in names]
    unknown = names - {s.name for s in chosen} - {s.label for s in chosen}
    if unknown:
        known = ", ".join(s.label for s in plan.processes)
        raise ConfigError(f"no process {', '.join(sorted(unknown))} in the plan; it has {known}")
    return chosen


def show_logs(
    plan: ClusterPlan,
    echo: Echo,
    since: str | None,
    lines: int,
    names: set[str],
    connect_timeout: float,
) -> bool:
    """Print each chosen process's log, host by host; False if a host was unreachable."""
    specs = _select(plan, names)
    request = {
        "op": "logs",
        "lines": lines,
        "since": parse_since(since, time.time()) if since else None,
    }

    async def run() -> bool:
        async with Fleet(plan, echo, connect_timeout) as fleet:
            answers = await fleet.per_host(
                specs, lambda group: {**request, "names": [s.name for s in group]}, 60.0
            )
            rows, missed = fleet.rows(answers, "no logs")
            for spec, row in rows:
                echo(f"==> {spec.label} on {host_label(spec.host)}: {row['log']} <==")
                if row["text"]:
                    echo(row["text"])
            return not missed

    return asyncio.run(run())


def _same(template: str, running: str) -> bool:
    """Equal, or a `~` path the broker expanded (its live settings hold absolute paths)."""
    if template.strip() == running.strip():
        return True
    return template.startswith("~/") and running.endswith(template[1:])


def _differences(
    expected: dict[str, str],
    actual: dict[str, str],
    theirs: str,
    defaults: dict[str, str] | None = None,
) -> list[str]:
    lines = []
    for key in sorted(set(expected) | set(actual)):
        mine, other = expected.get(key), actual.get(key)
        if mine is None and other is not None and defaults and defaults.get(key) == other:
            continue  # written back by updateBrokerConfig with the value it has anyway
        if mine is None:
            lines.append(f"  {key}: only in the {theirs}: {other}")
        elif other is None:
            lines.append(f"  {key}: missing from the {theirs} (template: {mine})")
        elif not _same(mine, other):
            lines.append(f"  {key}: template {mine}, {theirs} {other}")
    return lines


async def _live_configs(plan: ClusterPlan, brokers: list[ProcessSpec]) -> dict[str, dict[str, str]]:
    live: dict[str, dict[str, str]] = {}
    async with MQAdmin(plan.namesrv_addr) as admin:
        for broker in brokers:
            try:
                live[broker.name] = await admin.get_broker_config(broker.address)
            except Exception:
                continue  # not running: its file is all there is to compare
    return live


def config_diff(plan: ClusterPlan, echo: Echo, connect_timeout: float) -> bool:
    """Print the differences process by process; True when there are none."""

    async def run() -> bool:
        async with Fleet(plan, echo, connect_timeout) as fleet:
            answers = await fleet.per_host(
                plan.processes,
                lambda group: {"op": "configs", "names": [s.name for s in group]},
                60.0,
            )
            live = await _live_configs(plan, [b for b in plan.brokers if fleet.reachable(b)])
            rows, missed = fleet.rows(answers, "not compared")
            same = not missed
            for spec, row in rows:
                file = row["properties"]
                where = f"{spec.label} on {host_label(spec.host)}"
                if file is None and spec.kind == "dashboard":
                    continue  # optional: `start --no-dashboard`
                if file is None:
                    echo(f"{where}: never started there (no run/{spec.name}.properties)")
                    same = False
                    continue
                defaults = _BROKER_DEFAULTS if spec.kind == "broker" else None
                lines = _differences(spec.properties, file, "running file", defaults)
                current = live.get(spec.name)
                if current is not None:
                    # Only the keys the template or file set: the rest are defaults.
                    keys = {k for k in set(spec.properties) | set(file) if k in current}
                    lines += _differences(
                        {k: file.get(k, spec.properties.get(k, "")) for k in keys},
                        {k: current[k] for k in keys},
                        "live broker",
                    )
                if lines:
                    same = False
                    echo(f"{where}:")
                    for line in lines:
                        echo(line)
            if same:
                echo("every process runs its template's config")
            return same

    return asyncio.run(run())
