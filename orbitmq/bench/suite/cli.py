"""`orbitmq bench suite`: run every scenario, write docs/performance.md.

Default sizes take about 25 minutes on a 2-core machine; `--runs 1 --duration 2
--sustained-duration 3 --backlog 20000 --store-gib 0.05` is a smoke run of a few
minutes. Peers whose server is not installed are skipped with a note. `--only PART`
runs one part: end-to-end, server-cost, replication or scale.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from click.core import ParameterSource

from orbitmq.bench.common import BenchError
from orbitmq.bench.cpp_cli import default_cpp_python
from orbitmq.bench.suite.report import keep_profile, render
from orbitmq.bench.suite.scenarios import Suite, SuiteConfig

__all__ = ["suite"]

PARTS = ("end-to-end", "server-cost", "replication", "scale")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def _setup_lines(config: SuiteConfig, minutes: float) -> list[str]:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"{os.cpu_count()} CPUs ({_cpu_model()}), {mem_gib:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the whole suite took "
        f"{minutes:.1f} minutes",
        f"{config.runs} run(s) per figure, median reported; {config.processes} client "
        f"processes; window {config.window} per process; timed scenarios "
        f"{config.duration:g} s, sustained produce {config.sustained_duration:g} s; "
        f"backlog {config.backlog:,} messages; store {config.store_gib:g} GiB",
        "Every scenario starts a fresh `orbitmq standalone` (NameServer and broker in one "
        "process) in a new directory, topic `Perf` with 8 queues, ASYNC_FLUSH unless said",
        f"Server cost: the raw generator with {config.processes} processes x 3 connections x "
        f"{config.window} requests in flight, 1 KiB bodies; produce rounds "
        f"{config.round_seconds:g} s; OrbitMQ sends carry TAGS, a unique KEYS and UNIQ_KEY "
        "and WAIT=true",
        f"Peers: {_version(['nats-server', '--version'])}; "
        f"{_version(['redis-server', '--version'])}",
    ]


def _sizes(_ctx: click.Context, _param: click.Parameter, text: str) -> tuple[int, ...]:
    """A comma list of increasing positive integers (the points of a curve)."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter("a comma list of integers") from None
    if min(sizes) < 1 or list(sizes) != sorted(set(sizes)):
        raise click.BadParameter("a comma list of increasing positive integers")
    return sizes


_NOTES = [
    "With the default sizes (3 runs, 60 s sustained produce, 20 s other timed "
    "scenarios, 8 s server-cost rounds, 1,000,000-message backlogs, 10 GiB store, 15 s "
    "per replication layout, scale points of 1x, 10x and 100x topics) the suite takes "
    "about 25 minutes on 2 cores; the setup line above gives the actual time. `--only "
    "PART` runs one part alone: end-to-end (about 14 minutes), server-cost (about 5), "
    "replication (about 2), scale (about 3).",
    "VmRSS after the produce runs counts the commit-log pages those runs wrote (mapped "
    "files, about 1.2 KB per message, growing over the runs on one broker); the broker's "
    "own memory is RssAnon, in the memory rows.",
    "Latency is measured by the client around each request (send to answer); batch and "
    "Redis pipeline figures are per request, not per message.",
    "Broker CPU is user+system time of the broker process (NameServer included: it is "
    "the same process) from /proc/PID/stat between the start and the end of the load, "
    "divided by the messages.",
    "RssAnon is the broker's own memory; RssFile is pages of mapped store files, which "
    "the kernel reclaims under pressure (reported separately, as the issue asks).",
    "NATS JetStream: file storage (nats-server -js -sd DIR), publishes acknowledged by "
    "PubAck, pull consumer with AckAll per batch; nats-server 2.9 fsyncs on its own "
    "schedule (no per-message sync option), like ASYNC_FLUSH.",
    "Redis Streams: appendonly yes, RDB off; `everysec` is comparable to ASYNC_FLUSH, "
    "`always` (fsync before reply) to SYNC_FLUSH. XADD is sent in 4 concurrent "
    "pipelines of window/4 entries; consume is XREADGROUP COUNT 256 with XACK "
    "pipelined with the next read.",
    "Peer consumers record no per-message latency (their messages carry no born time).",
    "Server cost: the generator (`bench raw-*`) pre-encodes one request and patches "
    "counter digits per message; it reads only frame lengths and a status per response "
    "(for OrbitMQ `code 0` in the JSON header; pull responses by their small header's "
    "nextBeginOffset, the body is never decoded). Generator CPU is its processes' own "
    "time per message, shown to make plain that the client is cheap beside the server.",
    "Server cost, Redis: raw RESP, XADD pipelined; consume is XREADGROUP NOACK (no "
    "pending list, like OrbitMQ's pull). NATS: raw protocol, PUB awaiting each PubAck; "
    "consume is a pull consumer with AckNone and fetches that expire after 1 s. "
    "Automatic AOF rewrites "
    "are off (`auto-aof-rewrite-percentage 0`): each forks the server.",
    "Server cost, OrbitMQ consume: one PULL_MESSAGE in flight per queue (8), 32 messages "
    "per pull (the broker's maxTransferCountOnMessageInMemory), from offset 0, no commit.",
    "All clients are Python (ours, nats-py, redis-py with hiredis) except the C++ row, "
    "so the client side costs about the same everywhere; with 2 cores the client "
    "processes compete with the server for CPU.",
    "Python client CPU per message is the load processes' own user+system time (all "
    "client processes, from /proc) over the messages they sent or received, in the "
    "same end-to-end runs as the broker figures; the issue's target is half of what "
    "the client cost before it, a comparison across versions that one run cannot make.",
    "Replication: the four layouts run once, one after another, so the two ratios rest "
    "on one sample each; other work on the machine during one layout moves them.",
    "Cluster scale: CPU per registration and per create comes from /proc in 10 ms "
    "ticks, so figures below a few hundred µs are rounded to a tick over the round. "
    "A figure is named in these notes as growing faster than the topics when one "
    "point's value is more than 1.5 x the topic factor times the previous point's.",
]


@click.command(help="Run every performance scenario and write the markdown report.")
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--duration", type=click.FloatRange(min=0.5), default=20.0, show_default=True,
              help="seconds of each timed scenario")  # fmt: skip
@click.option("--sustained-duration", type=click.FloatRange(min=0.5), default=60.0,
              show_default=True, help="seconds of the main produce scenario")  # fmt: skip
@click.option("--backlog", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="messages in the consume-from-backlog scenario")  # fmt: skip
@click.option("--store-gib", type=click.FloatRange(min=0.001), default=10.0,
              show_default=True, help="store size for the memory figure")  # fmt: skip
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="client processes of every load")  # fmt: skip
@click.option("--window", type=click.IntRange(min=1), default=64, show_default=True,
              help="requests in flight per client process")  # fmt: skip
@click.option("--peers/--no-peers", default=True, show_default=True,
              help="also measure NATS JetStream and Redis Streams")  # fmt: skip
@click.option("--raw-duration", type=click.FloatRange(min=0.5), default=8.0,
              show_default=True,
              help="seconds of each server-cost produce round (at most --duration)")  # fmt: skip
@click.option("--replication-duration", type=click.FloatRange(min=1), default=15.0,
              show_default=True, help="seconds of load per replication layout")  # fmt: skip
@click.option("--namesrv-sets", type=click.IntRange(min=1), default=200, show_default=True,
              help="simulated broker sets of the NameServer scale curve")  # fmt: skip
@click.option("--namesrv-topics", default="50,500,5000", show_default=True,
              callback=_sizes, help="topics per broker set, one curve point each")  # fmt: skip
@click.option("--namesrv-period", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True,
              help="seconds over which every set registers once, with route queries")  # fmt: skip
@click.option("--broker-topics", default="200,2000,20000", show_default=True,
              callback=_sizes, help="topics (8 queues each), one curve point each")  # fmt: skip
@click.option("--only", type=click.Choice(PARTS), default=None,
              help="run one part: the end-to-end scenarios with our client, the "
                   "server-cost comparison with the raw generator, the replication "
                   "layouts or the cluster scale curves (default: all)")  # fmt: skip
@click.option("--cpp-python", envvar="ORBITMQ_BENCH_CPP_PYTHON", default=default_cpp_python,
              help="python of the C++ client's venv (default: .venv-cpp if built)")  # fmt: skip
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="where stores go (default: a temporary directory, removed after)")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False), default="docs/performance.md",
              show_default=True)  # fmt: skip
def suite(
    runs: int, duration: float, sustained_duration: float, backlog: int, store_gib: float,
    processes: int, window: int, peers: bool, raw_duration: float,
    replication_duration: float, namesrv_sets: int, namesrv_topics: tuple[int, ...],
    namesrv_period: float, broker_topics: tuple[int, ...], only: str | None,
    cpp_python: str | None, workdir: str | None, out: str,
) -> None:  # fmt: skip
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="orbitmq-perf-"))
    base.mkdir(parents=True, exist_ok=True)
    if only in (None, "end-to-end", "server-cost"):
        _check_disk(base, store_gib)
    config = SuiteConfig(
        base, runs, duration, sustained_duration, backlog, store_gib, processes, window,
        cpp_python, peers, raw_duration, replication_duration, namesrv_sets,
        namesrv_topics, namesrv_period, broker_topics,
    )  # fmt: skip
    s = Suite(config, sys.stderr)
    started = time.monotonic()
    try:
        if only in (None, "end-to-end"):
            for scenario in (s.startup, s.produce, s.produce_batch, s.sync_flush,
                             s.single_sender, s.consume_backlog, s.cpp_producer,
                             s.memory):  # fmt: skip
                s.say(f"scenario {scenario.__name__}")
                scenario()
            if peers:
                _run_peers(s)
        if only in (None, "server-cost"):
            s.say("scenario server_cost")
            s.server_cost()
        if only in (None, "replication"):
            s.say("scenario replication")
            s.replication()
        if only in (None, "scale"):
            s.say("scenario scale")
            s.scale()
    except BenchError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    out_path = Path(out)
    existing = out_path.read_text(encoding="utf-8") if out_path.exists() else None
    ctx = click.get_current_context()
    reproduce = _reproduce(ctx)
    if not _default_sizes(ctx):
        s.notes.insert(0, "**Reduced sizes** (see the command above): these figures are a "
                       "smoke run, not the measurement the targets ask for; run "
                       "`scripts/perf.sh` for that.")  # fmt: skip
    if only is not None:
        s.notes.insert(0, f"**Only the {only} part** was run (`--only {only}`): the other "
                       "parts' tables are missing.")  # fmt: skip
    document = render(
        figures=s.figures, peers=s.peers, commands=s.commands,
        setup=_setup_lines(config, minutes), notes=_NOTES + s.notes,
        profile=keep_profile(existing), reproduce=reproduce, costs=s.costs,
        tables=s.tables,
    )  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(document, encoding="utf-8")
    s.say(f"wrote {out_path} after {minutes:.1f} minutes")


_SIZING = ("runs", "duration", "sustained_duration", "backlog", "store_gib", "processes",
           "window", "peers", "raw_duration", "replication_duration", "namesrv_sets",
           "namesrv_topics", "namesrv_period", "broker_topics")  # fmt: skip


def _default_sizes(ctx: click.Context) -> bool:
    return all(ctx.get_parameter_source(name) == ParameterSource.DEFAULT for name in _SIZING)


def _reproduce(ctx: click.Context) -> str:
    """scripts/perf.sh when the sizes were the defaults and every part ran (what it runs),
    else this command."""
    if _default_sizes(ctx) and ctx.params["only"] is None:
        return "scripts/perf.sh"
    args = sys.argv[sys.argv.index("suite") + 1 :] if "suite" in sys.argv else []
    return "python -m orbitmq bench suite " + shlex.join(args)


def _run_peers(s: Suite) -> None:
    for program, runs in (
        ("nats-server", [("nats", "NATS JetStream (file store)", "everysec", True)]),
        ("redis-server", [
            ("redis", "Redis Streams (AOF, appendfsync everysec)", "everysec", True),
            ("redis", "Redis Streams (AOF, appendfsync always)", "always", False),
        ]),
    ):  # fmt: skip
        if shutil.which(program) is None and not Path("/usr/sbin", program).exists():
            s.notes.append(f"{program} is not installed: its rows are missing.")
            continue
        for system, label, fsync, consume in runs:
            s.say(f"peer {label}")
            s.peer(system, label, fsync, consume)


def _check_disk(base: Path, store_gib: float) -> None:
    free_gib = shutil.disk_usage(base).free / 2**30
    # The store must fit, and stay under the broker's 75 % disk-use guard.
    if free_gib < store_gib * 1.5 + 4:
        raise click.ClickException(
            f"{base} has {free_gib:.1f} GiB free; --store-gib {store_gib:g} needs about "
            f"{store_gib * 1.5 + 4:.0f} GiB (lower --store-gib)"
        )
