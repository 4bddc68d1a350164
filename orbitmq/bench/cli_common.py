"""Options and plumbing shared by every `orbitmq bench` command.

Every `--interval` seconds a line goes to stdout (to stderr with `--json`, so that
stdout holds only the final JSON object). Failures to start (no route, bad pid, server
down, a worker process failing) print one line on stderr and exit with code 1.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import click
import orjson

from orbitmq.bench.common import DEFAULT_DURATION, BenchError
from orbitmq.bench.cpu import CpuUsage
from orbitmq.bench.stats import ConsumeReport, SendReport
from orbitmq.errors import OrbitMQError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESRV_ADDR = "127.0.0.1:9876"


class Outcome(Protocol):
    @property
    def report(self) -> SendReport | ConsumeReport: ...

    @property
    def cpu(self) -> CpuUsage | None: ...

    def to_json(self) -> dict[str, Any]: ...


def _apply(fn: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


def target_options(fn: F) -> F:
    """-n NameServer and -t topic of an OrbitMQ load."""
    return _apply(
        fn,
        [
            click.option(
                "-n",
                "--namesrv",
                "namesrv",
                envvar="NAMESRV_ADDR",
                default=DEFAULT_NAMESRV_ADDR,
                show_default=True,
                help="NameServer list, ';' separated (env NAMESRV_ADDR)",
            ),
            click.option("-t", "--topic", default="BenchmarkTest", show_default=True),
        ],
    )


def load_options(fn: F) -> F:
    """Bounds, reporting and process count of any load."""
    return _apply(
        fn,
        [
            click.option(
                "--count",
                type=click.IntRange(min=1),
                default=None,
                help="stop after this many messages in all (default: no count limit)",
            ),
            click.option(
                "--duration",
                type=click.FloatRange(min=0, min_open=True),
                default=DEFAULT_DURATION,
                show_default=True,
                help="stop after this many seconds (always bounded)",
            ),
            click.option(
                "--interval",
                type=click.FloatRange(min=0.1),
                default=5.0,
                show_default=True,
                help="seconds between progress lines",
            ),
            click.option(
                "--json", "as_json", is_flag=True, help="print one JSON summary on stdout"
            ),
            click.option(
                "--broker-pid",
                type=int,
                default=None,
                help="report this process's CPU µs per message (Linux /proc)",
            ),
            click.option(
                "--processes",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                help="client processes; their stats are merged (window etc. are per process)",
            ),
        ],
    )


def worker_option(fn: F) -> F:
    """The hidden flag that makes a command a fleet worker (fleet.py)."""
    return click.option(
        "--worker",
        is_flag=True,
        hidden=True,
        help="speak the fleet protocol on stdin/stdout (used by --processes)",
    )(fn)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed; map expected failures to stderr + exit 1."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(coro)
        return uvloop.run(coro)
    except (OrbitMQError, BenchError, OSError, ValueError, TimeoutError, EOFError) as exc:
        click.echo(f"bench failed: {exc or type(exc).__name__}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("bench interrupted", err=True)
        sys.exit(1)


def finish(outcome: Outcome, as_json: bool) -> None:
    """Print the summary: three `[Summary]` lines, or one JSON object."""
    if as_json:
        click.echo(orjson.dumps(outcome.to_json()).decode())
        return
    report = outcome.report
    click.echo(f"[Summary] {report.line()}")
    click.echo(
        f"[Summary] Messages: {report.messages} Elapsed(s): {report.elapsed_s:.3f} "
        f"TPS: {report.tps:.1f}"
    )
    if outcome.cpu is not None:
        click.echo(f"[Summary] {outcome.cpu.line()}")


def check_processes(processes: int, count: int | None, worker: bool) -> None:
    """Reject combinations that cannot be shared out between processes."""
    if worker and processes != 1:
        raise click.UsageError("--worker runs one process; it cannot take --processes")
    if count is not None and count < processes:
        raise click.UsageError(f"--count {count} is less than --processes {processes}")


def self_argv(command: str, *args: str) -> list[str]:
    """The command line of a worker: this interpreter running `orbitmq bench COMMAND`."""
    return [sys.executable, "-m", "orbitmq", "bench", command, *args, "--worker"]


def flag(value: bool, name: str) -> str:
    """`--name` or `--no-name` for a boolean flag pair."""
    return f"--{name}" if value else f"--no-{name}"
