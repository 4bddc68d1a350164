"""The servers a suite measures, each a child process on 127.0.0.1 free ports in its own
directory: `orbitmq standalone`, `nats-server -js` and `redis-server` (AOF on).

Every server logs to `server.log` in its directory; a server that does not come up in
time is killed and its log tail is put in the error.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from orbitmq.bench.common import BenchError

__all__ = [
    "TOPIC",
    "Server",
    "create_topic",
    "free_port",
    "is_port_free",
    "start_nats",
    "start_redis",
    "start_standalone",
]

TOPIC = "Perf"
BOOT_TIMEOUT = 60.0
# Below the kernel's ephemeral range (32768+), so that a client socket in TIME_WAIT
# cannot hold a server's port.
_PORT_RANGE = (20000, 32000)


def is_port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port p with p-2 .. p+1 free too (a broker also binds its VIP and HA ports)."""
    for _ in range(500):
        port = random.randrange(*_PORT_RANGE)
        if all(is_port_free(p) for p in range(port - 2, port + 2)):
            return port
    raise BenchError("no free port found")


class Server:
    """A child process writing to `home/server.log`."""

    def __init__(self, name: str, argv: list[str], home: Path, address: str) -> None:
        self.name = name
        self.argv = argv
        self.home = home
        self.address = address
        self.started_at = time.monotonic()
        self._log_path = home / "server.log"
        # A restart appends to the same log: look only at what this process wrote, or
        # the last run's boot line would pass for this one's.
        self._log_start = self._log_path.stat().st_size if self._log_path.exists() else 0
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=home
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self._log_path, "rb") as log:
                log.seek(self._log_start)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout: float = BOOT_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise BenchError(f"{self.name} did not {what} (exit {self.process.returncode}):\n"
                         + self.log_tail())  # fmt: skip

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_standalone(home: Path, flush_disk_type: str = "ASYNC_FLUSH") -> Server:
    """`orbitmq standalone` in `home` (store kept there), booted. `address` is the
    NameServer's; the broker's flushDiskType comes from a -c properties file."""
    home.mkdir(parents=True, exist_ok=True)
    properties = home / "broker.properties"
    properties.write_text(f"flushDiskType={flush_disk_type}\nbrokerClusterName=DefaultCluster\n")
    namesrv_port, broker_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "orbitmq", "standalone", "--home", str(home),
        "--namesrv-port", str(namesrv_port), "--broker-port", str(broker_port),
        "-c", str(properties), "--no-dashboard",  # its CPU would count as the broker's
        "--grpc-port", str(free_port()),
    ]  # fmt: skip
    server = Server("orbitmq standalone", argv, home, f"127.0.0.1:{namesrv_port}")
    server.wait_until(lambda: "boot success. serializeType" in server.log_tail(3), "boot")
    return server


def create_topic(server: Server, topic: str = TOPIC, queues: int = 8) -> None:
    """`orbitmq admin updateTopic` with `queues` read and write queues."""
    argv = [
        sys.executable, "-m", "orbitmq", "admin", "updateTopic", "-n", server.address,
        "-c", "DefaultCluster", "-t", topic, "-r", str(queues), "-w", str(queues),
    ]  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:  # the broker may not have registered yet
            raise BenchError(f"updateTopic failed: {result.stdout}{result.stderr}")
        time.sleep(0.2)


def _need(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if path is None:
        raise BenchError(f"{program} is not installed (apt-get install {program})")
    return path


def start_nats(home: Path) -> Server:
    """nats-server with JetStream, its file store in `home/jetstream`."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [_need("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js",
            "-sd", str(home / "jetstream")]  # fmt: skip
    server = Server("nats-server", argv, home, f"nats://127.0.0.1:{port}")
    server.wait_until(lambda: _accepts(port), "listen")
    return server


def start_redis(home: Path, appendfsync: str = "everysec") -> Server:
    """redis-server with the append-only file on (`appendfsync` everysec or always), RDB
    snapshots and automatic AOF rewrites off, so that AOF is the only persistence and no
    fork skews a run (a rewrite forks every time the file doubles: every second or two
    under a raw load)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        _need("redis-server"), "--bind", "127.0.0.1", "--port", str(port),
        "--dir", str(home), "--appendonly", "yes", "--appendfsync", appendfsync,
        "--save", "", "--auto-aof-rewrite-percentage", "0", "--daemonize", "no",
        "--protected-mode", "yes",
    ]  # fmt: skip
    server = Server(f"redis-server (appendfsync {appendfsync})", argv, home,
                    f"redis://127.0.0.1:{port}")  # fmt: skip
    server.wait_until(lambda: _accepts(port), "listen")
    return server
