"""Real NameServers and brokers serving gRPC, and the official 5.x clients driven in
their own environment (scripts/grpc5_clients_env.sh) from subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import (
    ServerProcess,
    broker_properties,
    free_port,
    start_namesrv,
    write_properties,
)

REPO = Path(__file__).resolve().parents[2]
ENV_SCRIPT = REPO / "scripts" / "grpc5_clients_env.sh"
PY_DRIVER = Path(__file__).with_name("py_driver.py")
NODE_DIR = Path(__file__).with_name("node")
# Transaction check-backs in seconds, so tests see them; SQL92 filters on.
BROKER_SETTINGS = {
    "transactionCheckInterval": 1000,
    "transactionTimeOut": 1000,
    "enablePropertyFilter": "true",
}
_env_lock = threading.Lock()
_python: str | None = None


def client_python() -> str:
    """The interpreter of the venv holding rocketmq-python-client (built once)."""
    global _python
    with _env_lock:
        if _python is None:
            proc = subprocess.run(
                ["bash", str(ENV_SCRIPT)], capture_output=True, text=True, timeout=600
            )
            if proc.returncode != 0:
                raise AssertionError(f"{ENV_SCRIPT} failed:\n{proc.stderr[-3000:]}")
            _python = proc.stdout.strip().splitlines()[-1]
    return _python


def _client_env(home: Path) -> dict[str, str]:
    # The 5.x client writes its log under $HOME/logs/rocketmq_python: keep it per test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["HOME"] = str(home)
    return env


def _argv(driver: str, args: tuple[str, ...]) -> list[str]:
    if driver == "node":
        return ["node", str(NODE_DIR / "driver.js"), *args]
    return [client_python(), str(PY_DRIVER), *args]


def run_client(driver: str, home: Path, *args: str, timeout: float = 90) -> list[dict]:
    """Run a client driver ("py": py_driver.py, "node": node/driver.js) to the end; its
    JSON lines."""
    proc = subprocess.run(
        _argv(driver, args), capture_output=True, text=True, timeout=timeout,
        env=_client_env(home), cwd=NODE_DIR,
    )  # fmt: skip
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        raise AssertionError(
            f"{driver} driver {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    return records


def run_py(home: Path, *args: str, timeout: float = 90) -> list[dict]:
    return run_client("py", home, *args, timeout=timeout)


@dataclass
class Background:
    """A driver left running (a push consumer), read when it ends."""

    proc: subprocess.Popen[str]
    args: tuple[str, ...]

    def wait(self, timeout: float = 90) -> list[dict]:
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError(
                f"py_driver {' '.join(self.args)} exited {self.proc.returncode}:\n{err[-4000:]}"
            )
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def wait_started(self, timeout: float = 30) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if '"started"' not in line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(
                f"py_driver {' '.join(self.args)} did not start: {line}\n{err[-4000:]}"
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def start_client(driver: str, home: Path, *args: str) -> Background:
    proc = subprocess.Popen(
        _argv(driver, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_client_env(home), cwd=NODE_DIR,
    )  # fmt: skip
    return Background(proc, args)


def start_py(home: Path, *args: str) -> Background:
    return start_client("py", home, *args)


@dataclass
class ProxiedCluster:
    """A NameServer and broker sets; `endpoint` is the gRPC address clients use."""

    workdir: Path
    namesrv: ServerProcess
    namesrv_addr: str
    brokers: dict[str, ServerProcess] = field(default_factory=dict)
    broker_props: dict[str, dict[str, object]] = field(default_factory=dict)
    proxy: ServerProcess | None = None
    endpoint: str = ""
    admin_credentials: tuple[str, ...] = ()  # mqadmin's --accessKey/--secretKey (ACL on)

    def stop(self) -> None:
        for proc in [self.proxy, *self.brokers.values(), self.namesrv]:
            if proc is not None:
                proc.stop()

    def admin(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "orbitmq", "admin", *args, "-n", self.namesrv_addr,
             *self.admin_credentials],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"mqadmin {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def create_topic(self, topic: str, queues: int = 4, message_type: str | None = None) -> None:
        args = [
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            topic,
            "-r",
            str(queues),
            "-w",
            str(queues),
        ]
        if message_type is not None:
            args += ["-a", f"+message.type={message_type}"]
        self.admin(*args)

    def start_broker(
        self,
        name: str,
        enable_proxy: bool,
        grpc_port: int | None = None,
        proxy_settings: dict[str, object] | None = None,
        **extra: object,
    ) -> None:
        props = self.broker_props.get(name) or broker_properties(
            self.workdir, self.namesrv_addr, brokerName=name, **extra
        )
        self.broker_props[name] = props
        path = write_properties(self.workdir / f"{name}.properties", props)
        argv = [sys.executable, "-m", "orbitmq", "broker", "-c", str(path)]
        marker = "boot success"
        if enable_proxy:
            port = grpc_port or free_port()
            proxy_json = self.workdir / f"{name}-proxy.json"
            proxy_json.write_text(json.dumps({"grpcServerPort": port, **(proxy_settings or {})}))
            argv += ["--enable-proxy", "-pc", str(proxy_json)]
            marker = "The proxy boot success"
            self.endpoint = f"127.0.0.1:{port}"
        proc = ServerProcess(argv, marker, f"broker:{name}")
        proc.wait_booted()
        self.brokers[name] = proc


def start_local_mode(workdir: Path) -> ProxiedCluster:
    """One broker set whose broker also serves gRPC (mqbroker --enable-proxy)."""
    namesrv, addr = start_namesrv(workdir)
    cluster = ProxiedCluster(workdir, namesrv, addr)
    try:
        cluster.start_broker("broker-a", True, **BROKER_SETTINGS)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_cluster_mode(workdir: Path) -> ProxiedCluster:
    """Two broker sets behind one `mqproxy`."""
    namesrv, addr = start_namesrv(workdir)
    cluster = ProxiedCluster(workdir, namesrv, addr)
    try:
        for name in ("broker-a", "broker-b"):
            cluster.start_broker(name, False, **BROKER_SETTINGS)
        port = free_port()
        proxy_json = workdir / "rmq-proxy.json"
        proxy_json.write_text(json.dumps({"grpcServerPort": port, "namesrvAddr": addr}))
        cluster.proxy = ServerProcess(
            [sys.executable, "-m", "orbitmq", "proxy", "-pc", str(proxy_json)],
            "The proxy boot success",
            "mqproxy",
        )
        cluster.proxy.wait_booted()
        cluster.endpoint = f"127.0.0.1:{port}"
    except BaseException:
        cluster.stop()
        raise
    return cluster
