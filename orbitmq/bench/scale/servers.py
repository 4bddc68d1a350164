"""The processes a scale run measures: `orbitmq namesrv` and `orbitmq broker`, each a
child on 127.0.0.1 free ports in its own directory (suite/servers.py's `Server`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orbitmq.bench.suite.servers import Server, free_port

NAMESRV_BOOT = "The Name Server boot success"
BROKER_BOOT = "boot success. serializeType"


def write_properties(path: Path, values: dict[str, object]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def start_namesrv(home: Path) -> Server:
    """A NameServer on a free port; `address` is its ip:port."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_properties(
        home / "namesrv.properties",
        {"listenPort": port, "kvConfigPath": home / "kvConfig.json"},
    )
    argv = [sys.executable, "-m", "orbitmq", "namesrv", "-c", str(config)]
    server = Server("orbitmq namesrv", argv, home, f"127.0.0.1:{port}")
    server.wait_until(lambda: NAMESRV_BOOT in server.log_tail(5), "boot")
    return server


def broker_properties(home: Path, namesrv_addr: str) -> dict[str, object]:
    return {
        "brokerClusterName": "DefaultCluster",
        "brokerName": "broker-scale",
        "brokerId": 0,
        "brokerIP1": "127.0.0.1",
        "listenPort": free_port(),
        "namesrvAddr": namesrv_addr,
        "storePathRootDir": home / "store",
        "flushDiskType": "ASYNC_FLUSH",
        "autoCreateTopicEnable": "false",
    }


def open_files_and_maps(pid: int) -> tuple[int, int]:
    """Open file descriptors and memory mappings of a process (Linux /proc)."""
    with open(f"/proc/{pid}/maps", "rb") as maps:
        return len(os.listdir(f"/proc/{pid}/fd")), sum(1 for _ in maps)
