"""The suite's scenarios: each starts its own servers, runs `orbitmq bench …` commands
(real processes, exactly the commands listed in the document) and records figures.

Theory of operation. `Suite` holds the figures, the peer rows and the commands. A
scenario starts a fresh server in a new directory under `workdir`, runs its load `runs`
times, appends one sample per run to each of its figures and stops the server. Every
bench command runs with `--json`; its progress lines (stderr) pass through to ours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from orbitmq.bench.common import BenchError, make_body
from orbitmq.bench.memory import read_memory
from orbitmq.bench.suite.replication_ratios import ReplicationRatios
from orbitmq.bench.suite.report import CostRow, Figure, PeerRow, Table
from orbitmq.bench.suite.scale_curve import ScaleCurve
from orbitmq.bench.suite.server_cost import ServerCost
from orbitmq.bench.suite.servers import (
    TOPIC,
    Server,
    create_topic,
    free_port,
    start_nats,
    start_redis,
    start_standalone,
)

__all__ = ["Suite", "SuiteConfig"]

KIB = 1024
MIB = 1024 * 1024
# librocketmq 1.2.x times out on its own transport-table lock under many sender threads
# ("GetTransport ... get timed_mutex timeout" in its log) and then fails the send after
# its retries; 16 threads per process keep that rare and send as fast as 32.
CPP_THREADS = 16
_STARTUP_GIVE_UP = 30.0


@dataclass(frozen=True, slots=True)
class SuiteConfig:
    workdir: Path
    runs: int = 3
    duration: float = 20.0
    sustained_duration: float = 60.0
    backlog: int = 1_000_000
    store_gib: float = 10.0
    processes: int = 2
    window: int = 64
    cpp_python: str | None = None
    peers: bool = True
    raw_duration: float = 8.0
    replication_duration: float = 15.0
    namesrv_sets: int = 200
    namesrv_topics: tuple[int, ...] = (50, 500, 5_000)
    namesrv_period: float = 30.0
    broker_topics: tuple[int, ...] = (200, 2_000, 20_000)

    @property
    def round_seconds(self) -> float:
        """A server-cost produce round: `raw_duration`, at most `duration`."""
        return min(self.raw_duration, self.duration)


class Suite:
    def __init__(self, config: SuiteConfig, log: TextIO) -> None:
        self.config = config
        self.log = log
        self.figures: list[Figure] = []
        self.peers: list[PeerRow] = []
        self.costs: list[CostRow] = []
        self.tables: list[Table] = []
        self.commands: list[str] = []
        self.notes: list[str] = []
        self._dirs = 0

    # ------------------------------------------------------------------ plumbing

    def say(self, text: str) -> None:
        print(f"[suite] {text}", file=self.log, flush=True)

    def _home(self, name: str) -> Path:
        self._dirs += 1
        return self.config.workdir / f"{self._dirs:02d}-{name}"

    def _command(self, args: list[str], server: Server | None = None) -> int:
        """The index of a command in the list (added once), with the server's address
        and pid shown as variables (commands that start their own servers have none)."""
        shown = []
        for arg in args:
            if server is not None and arg == server.address:
                arg = "$URL" if "://" in arg else "$NAMESRV"
            elif server is not None and arg == str(server.pid):
                arg = "$PID"
            shown.append(arg)
        text = "python -m orbitmq bench " + " ".join(
            arg if arg.startswith("$") else shlex.quote(arg) for arg in shown
        )
        if text not in self.commands:
            self.commands.append(text)
        return self.commands.index(text)

    def bench(self, args: list[str], timeout: float) -> dict[str, Any]:
        """Run `orbitmq bench ARGS --json`; its summary object."""
        summary: dict[str, Any] = self._bench_json(args, timeout)
        return summary

    def bench_points(self, args: list[str], timeout: float) -> list[dict[str, Any]]:
        """Run `orbitmq bench ARGS --json` of a command printing a list (one object per
        layout or curve point)."""
        points: list[dict[str, Any]] = self._bench_json(args, timeout)
        if not points:
            raise BenchError(f"{shlex.join(args)} reported nothing")
        return points

    def _bench_json(self, args: list[str], timeout: float) -> Any:
        argv = [sys.executable, "-m", "orbitmq", "bench", *args, "--json"]
        self.say("$ " + shlex.join(argv[1:]))
        try:
            result = subprocess.run(
                argv, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{shlex.join(args)} ran past {timeout:.0f}s") from exc
        if result.returncode != 0:
            raise BenchError(f"{shlex.join(args)} exited with {result.returncode}")
        return json.loads(result.stdout)

    def figure(self, label: str, unit: str, command: int, target: Any = None) -> Figure:
        figure = Figure(label, unit, command, target)
        self.figures.append(figure)
        return figure

    @contextmanager
    def standalone(self, name: str, flush: str = "ASYNC_FLUSH") -> Iterator[Server]:
        server = start_standalone(self._home(name), flush)
        try:
            create_topic(server)
            yield server
        finally:
            server.stop()

    def _timeout(self, duration: float) -> float:
        return duration * 3 + 120

    @staticmethod
    def _cpu(summary: dict[str, Any]) -> float:
        return float(summary["broker_cpu"]["us_per_msg"] or 0.0)

    def _runs(
        self, args: list[str], duration: float, tps: Figure, latency: Figure, cpu: Figure,
        latency_key: str = "p99_rt_ms", runs: int | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Run a load `runs` times (default: the suite's); record TPS, latency and broker
        CPU of each summary."""
        summaries = []
        for _ in range(self.config.runs if runs is None else runs):
            s = self.bench(args, self._timeout(duration))
            tps.samples.append(s["tps"])
            latency.samples.append(s[latency_key])
            cpu.samples.append(self._cpu(s))
            summaries.append(s)
        return summaries

    def _producer_args(self, server: Server, duration: float, *extra: str) -> list[str]:
        return [
            "producer", "-n", server.address, "-t", TOPIC, "-s", str(KIB),
            "--duration", str(duration), "--broker-pid", str(server.pid), *extra,
        ]  # fmt: skip

    # ------------------------------------------------------------------ scenarios

    def produce(self) -> None:
        """Sustained per-message async sends, ASYNC_FLUSH."""
        c = self.config
        with self.standalone("produce") as server:
            args = self._producer_args(
                server, c.sustained_duration, "--mode", "async", "-w", str(c.window),
                "--processes", str(c.processes),
            )  # fmt: skip
            cmd = self._command(args, server)
            tps = self.figure(
                f"Produce 1 KiB, {c.window} in flight x {c.processes} processes, "
                f"{c.sustained_duration:g} s (msg/s)", "msg/s", cmd, (">=", 50_000),
            )  # fmt: skip
            p99 = self.figure("Produce p99 latency", "ms", cmd, ("<", 20))
            cpu = self.figure("Broker CPU per produced message", "µs/msg", cmd, ("<=", 15))
            rss = self.figure("Broker RSS after the produce run (VmRSS)", "MiB", cmd)
            client = self.figure("Python client CPU per sent message (this produce run)",
                                 "µs/msg", cmd)  # fmt: skip
            for _ in range(c.runs):
                summaries = self._runs(args, c.sustained_duration, tps, p99, cpu, runs=1)
                rss.samples.append(read_memory(server.pid).rss_kib / 1024)
                client.samples += _client_cpu(summaries)
        self._orbit_row("OrbitMQ (ASYNC_FLUSH)", tps, p99, cpu)

    def server_cost(self) -> None:
        """OrbitMQ beside the peers under the pre-encoded load (server_cost.py)."""
        ServerCost(self).run()

    def replication(self) -> None:
        """Produce msg/s with a slave or a DLedger group over a master alone's."""
        ReplicationRatios(self).run()

    def scale(self) -> None:
        """The NameServer's and the broker's costs against the topics (scale_curve.py)."""
        ScaleCurve(self).run()

    def _orbit_row(self, system: str, tps: Figure, p99: Figure, cpu: Figure) -> None:
        self.peers.append(PeerRow(system, tps.median, p99.median, cpu.median))

    def produce_batch(self) -> None:
        c = self.config
        with self.standalone("batch") as server:
            args = self._producer_args(
                server, c.duration, "--mode", "async", "--batch", "32", "-w", "8",
                "--processes", str(c.processes),
            )  # fmt: skip
            cmd = self._command(args, server)
            tps = self.figure("Produce 1 KiB in batches of 32 (reported separately)", "msg/s", cmd)
            p99 = self.figure("Batch produce p99 latency (per batch)", "ms", cmd)
            cpu = self.figure("Broker CPU per message, batches", "µs/msg", cmd)
            self._runs(args, c.duration, tps, p99, cpu)

    def sync_flush(self) -> None:
        c = self.config
        with self.standalone("sync-flush", "SYNC_FLUSH") as server:
            args = self._producer_args(
                server, c.duration, "--mode", "async", "-w", str(c.window),
                "--processes", str(c.processes),
            )  # fmt: skip
            cmd = self._command(args, server)
            in_flight = c.window * c.processes
            tps = self.figure(
                f"SYNC_FLUSH group commit, {in_flight} in flight (msg/s)", "msg/s", cmd,
                (">=", 25_000),
            )  # fmt: skip
            p99 = self.figure("SYNC_FLUSH p99 latency", "ms", cmd, ("<", 15))
            cpu = self.figure("Broker CPU per message, SYNC_FLUSH", "µs/msg", cmd)
            self._runs(args, c.duration, tps, p99, cpu)
        self._orbit_row("OrbitMQ (SYNC_FLUSH)", tps, p99, cpu)

    def single_sender(self) -> None:
        c = self.config
        with self.standalone("single-sender") as server:
            args = self._producer_args(server, c.duration, "--mode", "sync", "-w", "1")
            cmd = self._command(args, server)
            tps = self.figure("One synchronous sender (sends/s)", "msg/s", cmd, (">=", 3_000))
            p50 = self.figure("One synchronous sender p50 latency", "ms", cmd, ("<", 0.35))
            cpu = self.figure("Broker CPU per message, one sender", "µs/msg", cmd)
            self._runs(args, c.duration, tps, p50, cpu, "p50_rt_ms")

    def consume_backlog(self) -> None:
        c = self.config
        with self.standalone("consume") as server:
            fill = self._producer_args(
                server, 3600, "--mode", "async", "--batch", "64", "-w", "8",
                "--count", str(c.backlog), "--processes", str(c.processes),
            )  # fmt: skip
            self._command(fill, server)
            self.bench(fill, 3600)
            tps = cpu = client = None
            for run in range(c.runs):
                args = [
                    "consumer", "-n", server.address, "-t", TOPIC, "--from-first",
                    "--count", str(c.backlog), "--pull-batch", "64", "--consume-batch", "16",
                    "--duration", "600", "--processes", str(c.processes),
                    "--broker-pid", str(server.pid),
                ]  # fmt: skip
                cmd = self._command(args, server)
                args += ["-g", f"perf-consume-{run}"]  # a new group reads the backlog anew
                if tps is None or cpu is None or client is None:
                    tps = self.figure(
                        f"Consume from a backlog of {c.backlog:,} x 1 KiB (msg/s)", "msg/s",
                        cmd, (">=", 100_000),
                    )  # fmt: skip
                    cpu = self.figure("Broker CPU per consumed message", "µs/msg", cmd)
                    client = self.figure("Python client CPU per received message (this "
                                         "consume run)", "µs/msg", cmd)  # fmt: skip
                s = self.bench(args, 900)
                tps.samples.append(s["tps"])
                cpu.samples.append(self._cpu(s))
                client.samples += _client_cpu([s])
        self.peers[0].consume_tps = tps.median
        self.peers[0].consume_cpu_us = cpu.median

    def cpp_producer(self) -> None:
        c = self.config
        if c.cpp_python is None:
            self.notes.append("C++ producer skipped: no C++ client venv (cpp_client_env.sh).")
            return
        with self.standalone("cpp-producer") as server:
            args = [
                "cpp-producer", "-n", server.address, "-t", TOPIC, "-s", str(KIB),
                "--mode", "sync", "--threads", str(CPP_THREADS), "--duration", str(c.duration),
                "--processes", str(c.processes), "--broker-pid", str(server.pid),
                "--cpp-python", c.cpp_python,
            ]  # fmt: skip
            cmd = self._command(args[:-2], server)
            tps = self.figure(f"Produce with the C++ client (rocketmq 0.4.4), {CPP_THREADS} "
                              f"sync threads x {c.processes} processes", "msg/s", cmd)  # fmt: skip
            p99 = self.figure("C++ client produce p99 latency", "ms", cmd)
            cpu = self.figure("Broker CPU per message, C++ client", "µs/msg", cmd)
            summaries = self._runs(args, c.duration, tps, p99, cpu)
            failed = sum(s["send_failed"] + s["response_failed"] for s in summaries)
            if failed:
                self.notes.append(
                    f"C++ client: {failed} sends failed over the runs: librocketmq timed out "
                    "on its own transport lock ('get timed_mutex timeout' in its log); the "
                    "broker logged no error."
                )

    def startup(self) -> None:
        """Time from spawning `orbitmq standalone` on an empty store to the first send
        the broker accepts (topic auto-created), measured by an in-process client."""
        self.commands.append(
            "python -m orbitmq standalone --home $EMPTY_DIR --namesrv-port $P --broker-port $Q"
            "  (then one send to a new topic, retried until accepted)"
        )
        figure = self.figure(
            "Empty store: `orbitmq standalone` start to first accepted send", "s",
            len(self.commands) - 1, ("<=", 2),
        )  # fmt: skip
        for _ in range(self.config.runs):
            figure.samples.append(self._time_to_first_send(self._home("startup")))

    def _time_to_first_send(self, home: Path) -> float:
        home.mkdir(parents=True)
        namesrv_port, broker_port = free_port(), free_port()
        argv = [
            sys.executable, "-m", "orbitmq", "standalone", "--home", str(home),
            "--namesrv-port", str(namesrv_port), "--broker-port", str(broker_port),
            "--no-dashboard", "--grpc-port", str(free_port()),
        ]  # fmt: skip
        server = Server("orbitmq standalone", argv, home, f"127.0.0.1:{namesrv_port}")
        try:
            elapsed = asyncio.run(_first_send(server.address, server.started_at))
        finally:
            server.stop()
        self.say(f"first send accepted {elapsed:.3f}s after start")
        return elapsed

    def memory(self) -> None:
        """Fill a store to `store_gib` with 1 MiB messages, then read the broker's memory
        right after, and after each of `runs` restarts plus a short 1 KiB load."""
        c = self.config
        count = max(1, int(c.store_gib * 1024))
        home = self._home("memory")
        server = start_standalone(home)
        try:
            create_topic(server)
            fill = [
                "producer", "-n", server.address, "-t", TOPIC, "-s", str(MIB),
                "--mode", "async", "-w", "4", "--count", str(count), "--duration", "3600",
                "--processes", str(c.processes), "--send-timeout", "30",
            ]  # fmt: skip
            fill_cmd = self._command(fill, server)
            started = time.monotonic()
            self.bench(fill, 3600)
            self.say(f"wrote {count} MiB in {time.monotonic() - started:.1f}s")
            label = f"{c.store_gib:g} GiB store"
            anon = self.figure(f"Broker RSS without mapped files (RssAnon), {label}, "
                               "right after writing it", "MiB", fill_cmd, ("<", 300))  # fmt: skip
            after = read_memory(server.pid)
            anon.samples.append(after.anon_kib / 1024)
            mapped = self.figure(f"Mapped-file RSS (RssFile), {label}, after writing it",
                                 "MiB", fill_cmd)  # fmt: skip
            mapped.samples.append(after.file_kib / 1024)
        finally:
            server.stop()
        load = ["producer", "-n", server.address, "-t", TOPIC, "-s", str(KIB), "--mode",
                "async", "-w", str(c.window), "--duration", str(min(c.duration, 10.0))]  # fmt: skip
        restart_anon = self.figure(f"Broker RssAnon, {label}, after restart + 1 KiB load",
                                   "MiB", -1, ("<", 300))  # fmt: skip
        restart_rss = self.figure(f"Broker VmRSS (incl. mapped files), {label}, after "
                                  "restart + load", "MiB", -1)  # fmt: skip
        boot = self.figure(f"Restart on the {label} until boot line", "s", -1)
        for _ in range(c.runs):
            started = time.monotonic()
            server = start_standalone(home)
            boot.samples.append(time.monotonic() - started)
            try:
                load[2] = server.address
                self.bench(load, self._timeout(c.duration))
                usage = read_memory(server.pid)
                restart_anon.samples.append(usage.anon_kib / 1024)
                restart_rss.samples.append(usage.rss_kib / 1024)
            finally:
                server.stop()
        restart_anon.command = restart_rss.command = boot.command = self._command(load, server)

    # ------------------------------------------------------------------ peers

    def peer(self, system: str, label: str, redis_fsync: str = "everysec",
             consume: bool = True) -> None:  # fmt: skip
        c = self.config

        def start(name: str) -> Server:
            home = self._home(name)
            return start_nats(home) if system == "nats" else start_redis(home, redis_fsync)

        row = PeerRow(label)
        server = start(f"{system}-produce")
        try:
            args = [
                "peer-producer", "--system", system, "--url", server.address, "-s", str(KIB),
                "-w", str(c.window), "--processes", str(c.processes),
                "--duration", str(c.duration), "--broker-pid", str(server.pid),
            ]  # fmt: skip
            self._command(args, server)
            runs = [self.bench(args, self._timeout(c.duration)) for _ in range(c.runs)]
        finally:
            server.stop()
        row.produce_tps = _median([s["tps"] for s in runs])
        row.produce_p99_ms = _median([s["p99_rt_ms"] for s in runs])
        row.produce_cpu_us = _median([self._cpu(s) for s in runs])
        if consume:
            server = start(f"{system}-consume")
            try:
                fill = [
                    "peer-producer", "--system", system, "--url", server.address,
                    "-s", str(KIB), "-w", "256", "--count", str(c.backlog),
                    "--processes", str(c.processes), "--duration", "3600",
                ]  # fmt: skip
                self._command(fill, server)
                self.bench(fill, 3600)
                runs = []
                for run in range(c.runs):
                    args = [
                        "peer-consumer", "--system", system, "--url", server.address,
                        "--count", str(c.backlog), "--processes", str(c.processes),
                        "--duration", "600", "--broker-pid", str(server.pid),
                        "-g", f"perf-{run}",
                    ]  # fmt: skip
                    self._command(args[:-2], server)
                    runs.append(self.bench(args, 900))
            finally:
                server.stop()
            row.consume_tps = _median([s["tps"] for s in runs])
            row.consume_cpu_us = _median([self._cpu(s) for s in runs])
        self.peers.append(row)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _client_cpu(summaries: list[dict[str, Any]]) -> list[float]:
    """The load processes' own CPU per message of each summary that measured it."""
    return [
        float(s["client_cpu_us_per_msg"])
        for s in summaries
        if s.get("client_cpu_us_per_msg") is not None
    ]


async def _first_send(namesrv_addr: str, started_at: float) -> float:
    """Seconds from `started_at` (monotonic) to the first send the broker accepted."""
    from orbitmq.client.message import Message
    from orbitmq.client.producer import Producer
    from orbitmq.errors import OrbitMQError

    # Refused connections are expected until the server listens: keep them out of the log.
    logging.getLogger("orbitmq.client").setLevel(logging.CRITICAL)
    producer = Producer("perf_startup", namesrv_addr, send_timeout=1.0)
    await producer.start()
    try:
        while time.monotonic() - started_at < _STARTUP_GIVE_UP:
            try:
                await producer.send(Message("PerfStartup", make_body(KIB)))
            except (OrbitMQError, OSError):
                await asyncio.sleep(0.01)
                continue
            return time.monotonic() - started_at
    finally:
        await producer.shutdown()
    raise BenchError(f"no send accepted within {_STARTUP_GIVE_UP:.0f}s of start")
