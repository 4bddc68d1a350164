"""`orbitmq bench cpp-producer`: send load with the official C++ client, N processes.

The load comes from cpp_load.py run by the C++ client's venv interpreter (built by
scripts/cpp_client_env.sh), so the broker can be measured without our Python client
being the bottleneck. Output, --json and --broker-pid are those of `bench producer`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from orbitmq.bench.cli_common import (
    check_processes,
    finish,
    load_options,
    run_async,
    target_options,
)
from orbitmq.bench.cpu import CpuUsage
from orbitmq.bench.fleet import run_fleet, split_count
from orbitmq.bench.stats import SendReport, SendTally

__all__ = ["cpp_producer", "default_cpp_python"]

_DRIVER = Path(__file__).with_name("cpp_load.py")
_REPO_VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv-cpp" / "bin" / "python"


def default_cpp_python() -> str | None:
    """The C++ venv's interpreter in a source checkout, if it was built."""
    return str(_REPO_VENV_PYTHON) if _REPO_VENV_PYTHON.exists() else None


@dataclass(frozen=True, slots=True)
class CppProducerOutcome:
    settings: dict[str, Any]
    report: SendReport
    cpu: CpuUsage | None

    def to_json(self) -> dict[str, Any]:
        return {
            "role": "cpp-producer",
            **self.settings,
            **self.report.to_json(),
            "broker_cpu": self.cpu.to_json() if self.cpu is not None else None,
        }


@click.command("cpp-producer", help="Send load with the official C++ client (rocketmq 0.4.4).")
@target_options
@load_options
@click.option("-s", "--size", type=click.IntRange(1, 4 * 1024 * 1024), default=128,
              show_default=True, help="message body size in bytes")  # fmt: skip
@click.option("--mode", type=click.Choice(("sync", "async", "oneway")), default="sync",
              show_default=True)  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=16, show_default=True,
              help="sync/oneway: sender threads per process")  # fmt: skip
@click.option("-w", "--window", type=click.IntRange(min=1), default=64, show_default=True,
              help="async: sends in flight per process")  # fmt: skip
@click.option("--keys/--no-keys", default=False, show_default=True)
@click.option("--tags/--no-tags", default=False, show_default=True)
@click.option("-g", "--group", default="benchmark_cpp_producer", show_default=True)
@click.option("--send-timeout", type=float, default=3.0, show_default=True)
@click.option(
    "--cpp-python",
    envvar="ORBITMQ_BENCH_CPP_PYTHON",
    default=default_cpp_python,
    help="python of the C++ client's venv (scripts/cpp_client_env.sh prints it)",
)
def cpp_producer(
    namesrv: str, topic: str, count: int | None, duration: float, interval: float,
    as_json: bool, broker_pid: int | None, processes: int, size: int, mode: str,
    threads: int, window: int, keys: bool, tags: bool, group: str, send_timeout: float,
    cpp_python: str | None,
) -> None:  # fmt: skip
    check_processes(processes, count, worker=False)
    if not cpp_python:
        raise click.UsageError("no C++ client venv: run scripts/cpp_client_env.sh, or --cpp-python")
    settings = {
        "topic": topic, "mode": mode, "message_size": size, "threads": threads,
        "window": window, "processes": processes,
    }  # fmt: skip
    out = sys.stderr if as_json else sys.stdout
    if not as_json:
        click.echo(
            f"C++ producer benchmark: topic={topic} size={size} mode={mode} threads={threads} "
            f"window={window} processes={processes} duration={duration}s namesrv={namesrv}"
        )
    common = [
        "--namesrv", namesrv, "--topic", topic, "--size", str(size), "--mode", mode,
        "--threads", str(threads), "--window", str(window), "--duration", str(duration),
        "--group", group, "--send-timeout-ms", str(int(send_timeout * 1000)),
        *(["--tags"] if tags else []), *(["--keys"] if keys else []),
    ]  # fmt: skip
    argvs = [
        [cpp_python, "-I", str(_DRIVER), *common, *(["--count", str(n)] if n else [])]
        for n in split_count(count, processes)
    ]
    # librocketmq logs under $HOME/logs/rocketmq-cpp: keep that out of the user's home.
    home = tempfile.mkdtemp(prefix="orbitmq-cpp-bench-")
    env = {**os.environ, "HOME": home}

    async def main() -> CppProducerOutcome:
        result = await run_fleet(
            argvs, interval=interval, out=out, broker_pid=broker_pid, env=env
        )
        assert isinstance(result.tally, SendTally)
        return CppProducerOutcome(settings, result.tally.report(), result.cpu)

    try:
        outcome = run_async(main())
    finally:
        shutil.rmtree(home, ignore_errors=True)
    finish(outcome, as_json)
