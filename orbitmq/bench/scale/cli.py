"""`orbitmq bench namesrv-scale` and `orbitmq bench broker-scale`: one fresh server per
size, the sizes given as a comma list (the curve), one table row (or JSON object) each.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from orbitmq.bench.cli_common import run_async
from orbitmq.bench.scale.bodies import BODY_FORMATS, Layout
from orbitmq.bench.scale.broker_load import BrokerLoad, BrokerPoint, BrokerScaleRun
from orbitmq.bench.scale.namesrv_load import NamesrvLoad, NamesrvPoint, NamesrvScaleRun
from orbitmq.bench.scale.servers import start_namesrv

__all__ = ["broker_scale", "namesrv_scale"]

Column = tuple[str, str, Callable[[Any], object]]


def _sizes(_ctx: click.Context, _param: click.Parameter, text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("a comma list of positive integers") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("a comma list of positive integers")
    return sizes


class _Table:
    """Rows printed as the points complete (on stderr with --json, as progress)."""

    def __init__(self, columns: Sequence[Column], err: bool) -> None:
        self._columns = columns
        self._err = err
        self._widths = [max(len(title), 9) for title, _, _ in columns]
        self._echo([title for title, _, _ in columns])

    def _echo(self, cells: list[str]) -> None:
        line = "  ".join(c.rjust(w) for c, w in zip(cells, self._widths, strict=True))
        click.echo(line, err=self._err)

    def add(self, row: Any) -> None:
        values = [(fmt, get(row)) for _, fmt, get in self._columns]
        self._echo([fmt.format(v) if v is not None else "-" for fmt, v in values])


def _echo_json(rows: Sequence[Any]) -> None:
    click.echo(orjson.dumps([row.to_json() for row in rows]).decode())


_NAMESRV_COLUMNS: list[Column] = [
    ("sets", "{}", lambda p: p.broker_sets),
    ("topics/set", "{}", lambda p: p.topics_per_set),
    ("topics", "{}", lambda p: p.distinct_topics),
    ("body KiB", "{:.1f}", lambda p: p.body_kib),
    ("first µs/reg", "{:.0f}", lambda p: p.first_us),
    ("repeat µs/reg", "{:.0f}", lambda p: p.repeat_us),
    ("paced CPU %", "{:.1f}", lambda p: p.paced_cpu_percent),
    ("queries", "{}", lambda p: p.queries),
    ("q p50 ms", "{:.2f}", lambda p: p.query_p50_ms),
    ("q p99 ms", "{:.2f}", lambda p: p.query_p99_ms),
    ("RSS MiB", "{:.0f}", lambda p: p.rss_mib),
    ("failed", "{}", lambda p: p.registration_failures + p.query_failures),
]


@click.command("namesrv-scale", help="NameServer cost against broker sets x topics.")
@click.option("--broker-sets", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--topics", "sizes", default="50,500,5000", show_default=True, callback=_sizes,
              help="topics per broker set, one curve point each (comma list)")  # fmt: skip
@click.option("--sets-per-topic", type=click.IntRange(min=1), default=1, show_default=True,
              help="broker sets serving each topic (1: every set its own topics)")  # fmt: skip
@click.option("--period", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="seconds between a set's registrations in the paced phase")  # fmt: skip
@click.option("--repeats", type=click.IntRange(min=0), default=2, show_default=True,
              help="back-to-back rounds of unchanged registrations")  # fmt: skip
@click.option("--query-rate", type=click.FloatRange(min=0), default=200.0, show_default=True,
              help="route queries per second during the paced phase")  # fmt: skip
@click.option("--body", "body_format", type=click.Choice(BODY_FORMATS), default="compressed",
              show_default=True)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print a JSON list on stdout")
def namesrv_scale(
    broker_sets: int, sizes: list[int], sets_per_topic: int, period: float, repeats: int,
    query_rate: float, body_format: str, as_json: bool,
) -> None:  # fmt: skip
    table = _Table(_NAMESRV_COLUMNS, err=as_json)

    async def main() -> list[NamesrvPoint]:
        points = []
        for topics in sizes:
            layout = Layout(broker_sets, topics, min(sets_per_topic, broker_sets))
            load = NamesrvLoad(layout, body_format, period, repeats, query_rate)
            with tempfile.TemporaryDirectory(prefix="orbitmq-namesrv-scale-") as home:
                server = start_namesrv(Path(home))
                try:
                    points.append(await NamesrvScaleRun(load, server.address, server.pid).run())
                finally:
                    server.stop()
            table.add(points[-1])
        return points

    points = run_async(main())
    if as_json:
        _echo_json(points)


_BROKER_COLUMNS: list[Column] = [
    ("topics", "{}", lambda p: p.topics),
    ("create s", "{:.2f}", lambda p: p.create_s),
    ("broker µs/create", "{:.0f}", lambda p: p.create_broker_us),
    ("namesrv µs/create", "{:.0f}", lambda p: p.create_namesrv_us),
    ("fill failed", "{}", lambda p: p.fill_failures),
    ("boot s", "{:.2f}", lambda p: p.boot_s),
    ("first send s", "{:.2f}", lambda p: p.first_send_s),
    ("routed s", "{:.2f}", lambda p: p.routed_s),
    ("RssAnon MiB", "{:.1f}", lambda p: p.anon_mib),
    ("files", "{}", lambda p: p.open_files),
    ("maps", "{}", lambda p: p.memory_maps),
    ("broker µs/reg", "{:.0f}", lambda p: p.register_broker_us),
    ("namesrv µs/reg", "{:.0f}", lambda p: p.register_namesrv_us),
    ("body KiB", "{:.0f}", lambda p: p.body_kib),
]


@click.command("broker-scale", help="Broker cost against the number of topics (8 queues each).")
@click.option("--topics", "sizes", default="200,2000,20000", show_default=True, callback=_sizes,
              help="topics, one curve point each (comma list)")  # fmt: skip
@click.option(
    "--create",
    type=click.Choice(["admin", "file"]),
    default="admin",
    show_default=True,
    help="UPDATE_AND_CREATE_TOPIC one by one, or topics.json written before start",
)
@click.option("--registrations", type=click.IntRange(min=1), default=5, show_default=True,
              help="full registrations forced to measure their cost")  # fmt: skip
@click.option("--messages-per-queue", type=click.IntRange(min=0), default=0, show_default=True,
              help="sent into every queue before the restart (0: only topic configs)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print a JSON list on stdout")
def broker_scale(
    sizes: list[int], create: str, registrations: int, messages_per_queue: int, as_json: bool
) -> None:
    table = _Table(_BROKER_COLUMNS, err=as_json)

    async def main() -> list[BrokerPoint]:
        points = []
        for topics in sizes:
            load = BrokerLoad(topics, create, registrations, messages_per_queue)
            with tempfile.TemporaryDirectory(prefix="orbitmq-broker-scale-") as home:
                points.append(await BrokerScaleRun(load, Path(home)).run())
            table.add(points[-1])
        return points

    points = run_async(main())
    if as_json:
        _echo_json(points)


_CONSOLE_COLUMNS: list[Column] = [
    ("page", "{}", lambda p: p.path),
    ("HTTP", "{}", lambda p: p.status),
    ("first ms", "{:.0f}", lambda p: p.first_ms),
    ("warm median ms", "{:.0f}", lambda p: p.warm_median_ms),
    ("warm max ms", "{:.0f}", lambda p: p.warm_max_ms),
    ("KiB", "{:.0f}", lambda p: p.kib),
    ("browser load ms", "{}", lambda p: "-" if p.browser_ms is None else f"{p.browser_ms:.0f}"),
]


@click.command("console-scale", help="Console page load times with many topics and groups.")
@click.option("--topics", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--groups", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="warm loads of each page after the first")  # fmt: skip
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="also time each page to its load event in Chromium (Playwright)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print a JSON list on stdout")
def console_scale(topics: int, groups: int, rounds: int, browser: bool, as_json: bool) -> None:
    # httpx comes with the `bench` extra: a plain install's `orbitmq` must import without it.
    from orbitmq.bench.scale.console_load import run_console_scale

    table = _Table(_CONSOLE_COLUMNS, err=as_json)
    with tempfile.TemporaryDirectory(prefix="orbitmq-console-scale-") as home:
        timings = run_console_scale(Path(home), topics, groups, rounds, browser)
    for timing in timings:
        table.add(timing)
    if as_json:
        _echo_json(timings)
