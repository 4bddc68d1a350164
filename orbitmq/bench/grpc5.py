"""`orbitmq bench grpc`: produce and SimpleConsumer receive+ack over gRPC (RocketMQ 5)
next to produce and consume over remoting (4.x), in one run against one broker.

It starts a NameServer and a broker serving gRPC itself (`mqbroker --enable-proxy`) in a
temporary home, then runs, one after the other on their own topics:
  gRPC produce       the official Python 5.x client (grpc5_load.py, its own venv)
  gRPC receive+ack   the same client's SimpleConsumer, over that backlog
  remoting produce   the official C++ 4.x client (bench cpp-producer), when its venv is
                     there, and OrbitMQ's Python 4.x client (bench producer)
  remoting consume   OrbitMQ's Python 4.x PushConsumer (bench consumer), over a backlog
Client and broker share this machine's cores, so the figures compare the protocols as
these clients drive them, not the broker alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from orbitmq.bench.cpp_cli import default_cpp_python

__all__ = ["grpc_bench"]

_DRIVER = Path(__file__).with_name("grpc5_load.py")
_REPO = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 60.0


def default_rmq5_python() -> str | None:
    """The 5.x client's venv interpreter in a source checkout, if it was built."""
    path = _REPO / ".venv-rmq5" / "bin" / "python"
    return str(path) if path.exists() else None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Servers:
    """A NameServer and a broker with the gRPC proxy, under `home`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.namesrv_port, self.broker_port, self.grpc_port = (_free_port() for _ in range(3))
        self.namesrv = f"127.0.0.1:{self.namesrv_port}"
        self.endpoint = f"127.0.0.1:{self.grpc_port}"
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self._spawn(["namesrv", "-p", str(self.namesrv_port)], "namesrv.log")
        self._wait_for("namesrv.log", "The Name Server boot success")
        properties = self.home / "broker.properties"
        properties.write_text(
            f"brokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={self.broker_port}\n"
            f"namesrvAddr={self.namesrv}\nstorePathRootDir={self.home / 'store'}\n"
        )
        proxy = self.home / "rmq-proxy.json"
        proxy.write_text(json.dumps({"grpcServerPort": self.grpc_port}))
        self._spawn(
            ["broker", "-c", str(properties), "--enable-proxy", "-pc", str(proxy)], "broker.log"
        )
        self._wait_for("broker.log", "The proxy boot success")

    def _spawn(self, args: list[str], log_name: str) -> None:
        log = open(self.home / log_name, "wb")  # noqa: SIM115 - the child owns it
        self._processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "orbitmq", *args], stdout=log, stderr=subprocess.STDOUT
            )
        )

    def _wait_for(self, log_name: str, marker: str) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if marker in (self.home / log_name).read_text(errors="replace"):
                return
            if any(p.poll() is not None for p in self._processes):
                break
            time.sleep(0.1)
        raise click.ClickException(f"{marker!r} never came; see {self.home / log_name}")

    @property
    def broker_pid(self) -> int:
        return self._processes[-1].pid

    def create_topic(self, topic: str, queues: int) -> None:
        _run_json_free(
            [sys.executable, "-m", "orbitmq", "admin", "updateTopic", "-n", self.namesrv,
             "-c", "DefaultCluster", "-t", topic, "-r", str(queues), "-w", str(queues)]
        )  # fmt: skip

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _run_json_free(argv: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise click.ClickException(
            f"{' '.join(argv[:6])} … failed ({proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def _run_json(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    lines = [line for line in _run_json_free(argv, env).splitlines() if line.startswith("{")]
    if not lines:
        raise click.ClickException(f"{' '.join(argv[:6])} … printed no JSON result")
    return json.loads(lines[-1])


@click.command("grpc", help="gRPC (5.x) vs remoting (4.x) produce and consume, one run.")
@click.option("--duration", type=click.FloatRange(min=1), default=20.0, show_default=True,
              help="seconds of each produce run")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=16, show_default=True,
              help="sender / receiver threads of each client")  # fmt: skip
@click.option("-s", "--size", type=click.IntRange(1, 4 * 1024 * 1024), default=128,
              show_default=True)  # fmt: skip
@click.option("--queues", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--rmq5-python", default=default_rmq5_python,
              help="python of the 5.x client's venv (scripts/grpc5_clients_env.sh)")  # fmt: skip
@click.option("--cpp-python", default=default_cpp_python,
              help="python of the C++ client's venv; without it, no C++ row")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary on stdout")
def grpc_bench(
    duration: float, threads: int, size: int, queues: int, rmq5_python: str | None,
    cpp_python: str | None, as_json: bool,
) -> None:  # fmt: skip
    if not rmq5_python:
        raise click.UsageError(
            "no 5.x client venv: run scripts/grpc5_clients_env.sh, or --rmq5-python"
        )
    home = Path(tempfile.mkdtemp(prefix="orbitmq-grpc-bench-"))
    servers = _Servers(home)
    rows: dict[str, dict[str, Any]] = {}
    client_env = {**os.environ, "HOME": str(home)}  # the clients' log files stay here
    try:
        servers.start()
        for topic in ("BenchGrpc", "BenchRemoting", "BenchCpp"):
            servers.create_topic(topic, queues)
        grpc = [rmq5_python, "-I", str(_DRIVER), "--endpoint", servers.endpoint,
                "--threads", str(threads), "--size", str(size)]  # fmt: skip
        rows["gRPC produce (Python 5.x client)"] = produced = _run_json(
            [*grpc[:3], "produce", *grpc[3:], "--topic", "BenchGrpc", "--duration", str(duration)],
            client_env,
        )
        rows["gRPC receive+ack (Python 5.x SimpleConsumer)"] = _run_json(
            [*grpc[:3], "consume", *grpc[3:], "--topic", "BenchGrpc",
             "--count", str(produced["messages"]), "--duration", str(duration * 4)],
            client_env,
        )  # fmt: skip
        bench = [sys.executable, "-m", "orbitmq", "bench"]
        if cpp_python:
            rows["remoting produce (C++ 4.x client)"] = _run_json(
                [*bench, "cpp-producer", "-n", servers.namesrv, "-t", "BenchCpp",
                 "--duration", str(duration), "--threads", str(threads), "-s", str(size),
                 "--cpp-python", cpp_python, "--json"],
                client_env,
            )  # fmt: skip
        rows["remoting produce (OrbitMQ Python 4.x client)"] = sent = _run_json(
            [*bench, "producer", "-n", servers.namesrv, "-t", "BenchRemoting",
             "--duration", str(duration), "-w", str(threads), "-s", str(size), "--json"]
        )  # fmt: skip
        rows["remoting consume (OrbitMQ Python 4.x PushConsumer)"] = _run_json(
            [*bench, "consumer", "-n", servers.namesrv, "-t", "BenchRemoting", "--from-first",
             "--count", str(sent["messages"]), "--duration", str(duration * 4),
             "--threads", str(threads), "--json"]
        )  # fmt: skip
    finally:
        servers.stop()
    if as_json:
        click.echo(json.dumps({"threads": threads, "size": size, "rows": rows}))
        return
    click.echo(f"threads={threads} size={size} B queues={queues} duration={duration:g} s")
    click.echo(f"{'path':<52} {'messages':>9} {'TPS':>9} {'avg RT ms':>10} {'failed':>7}")
    for name, row in rows.items():
        failed = row.get("send_failed", row.get("failed", 0)) or 0
        rt = row.get("avg_rt_ms")
        click.echo(
            f"{name:<52} {row['messages']:>9} {row['tps']:>9.1f} "
            f"{(f'{rt:.2f}' if rt is not None else '-'):>10} {failed:>7}"
        )
