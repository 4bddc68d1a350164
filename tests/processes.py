"""Real NameServer and broker processes on 127.0.0.1 for tests.

Each process runs `python -m orbitmq …` on free ports, is awaited until it prints its
boot line, and is stopped with a real signal.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

BOOT_TIMEOUT = 30.0


# Below the kernel's ephemeral range (32768+), so a client socket lingering in TIME_WAIT
# on the same port cannot make a server's bind fail.
_PORT_RANGE = (20000, 32000)


def free_port(count: int = 1) -> int:
    """A port p such that p-2 .. p+count are free too (broker VIP and HA ports)."""
    for _ in range(500):
        port = random.randrange(*_PORT_RANGE)
        if all(_is_free(p) for p in range(port - 2, port + count + 1)):
            return port
    raise RuntimeError("no free port found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def write_properties(path: Path, values: dict[str, object]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


class ServerProcess:
    """A child process whose output is kept (last lines) for failure messages."""

    def __init__(
        self, argv: list[str], boot_marker: str, name: str, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self._boot_marker = boot_marker
        self.output: deque[str] = deque(maxlen=400)
        self._booted = threading.Event()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            if self._boot_marker in line:
                self._booted.set()

    def wait_booted(self, timeout: float = BOOT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._booted.wait(0.05):
                return
            if self.process.poll() is not None:
                break
        exit_code = self.process.poll()
        self.stop(timeout=5)  # never leave a half-started server behind
        raise AssertionError(f"{self.name} did not boot (exit {exit_code}):\n" + self.tail())

    def tail(self, lines: int = 60) -> str:
        return "\n".join(list(self.output)[-lines:])

    @property
    def pid(self) -> int:
        return self.process.pid

    def send_signal(self, sig: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.process.wait(5)
        self._close_output()
        return self.process.returncode

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
        self.process.wait(5)
        self._close_output()

    def _close_output(self) -> None:
        self._reader.join(2)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_namesrv(
    workdir: Path, port: int | None = None, **overrides: object
) -> tuple[ServerProcess, str]:
    port = port or free_port()
    config = write_properties(
        workdir / f"namesrv-{port}.properties",
        {
            "listenPort": port,
            "kvConfigPath": workdir / f"namesrv-{port}" / "kvConfig.json",
            **overrides,
        },
    )
    proc = ServerProcess(
        [sys.executable, "-m", "orbitmq", "namesrv", "-c", str(config)],
        "The Name Server boot success",
        f"namesrv:{port}",
    )
    proc.wait_booted()
    return proc, f"127.0.0.1:{port}"


def broker_properties(workdir: Path, namesrv_addr: str, **overrides: object) -> dict[str, object]:
    port = free_port()
    name = str(overrides.get("brokerName", f"broker-{port}"))
    values: dict[str, object] = {
        "brokerClusterName": "DefaultCluster",
        "brokerName": name,
        "brokerId": 0,
        "brokerIP1": "127.0.0.1",
        "listenPort": port,
        "namesrvAddr": namesrv_addr,
        "storePathRootDir": workdir / f"store-{name}",
        "mapedFileSizeCommitLog": 64 * 1024 * 1024,
        "mapedFileSizeConsumeQueue": 60_000,
        "flushDiskType": "ASYNC_FLUSH",
    }
    values.update(overrides)
    return values


def start_broker(workdir: Path, properties: dict[str, object]) -> ServerProcess:
    path = write_properties(workdir / f"{properties['brokerName']}.properties", properties)
    proc = ServerProcess(
        [sys.executable, "-m", "orbitmq", "broker", "-c", str(path)],
        "boot success",
        f"broker:{properties['brokerName']}",
    )
    proc.wait_booted()
    return proc


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout}s")
