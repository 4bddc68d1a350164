"""Fixtures that start real NameServer and broker processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import ServerProcess, broker_properties, start_broker, start_namesrv


@dataclass
class Cluster:
    workdir: Path
    namesrv: ServerProcess
    namesrv_addr: str
    broker: ServerProcess
    broker_props: dict[str, object]

    @property
    def broker_addr(self) -> str:
        return f"127.0.0.1:{self.broker_props['listenPort']}"

    @property
    def store_dir(self) -> Path:
        return Path(str(self.broker_props["storePathRootDir"]))

    def restart_broker(self) -> None:
        self.broker.stop()
        self.broker = start_broker(self.workdir, self.broker_props)

    def stop(self) -> None:
        self.broker.stop()
        self.namesrv.stop()


def make_cluster(workdir: Path, **broker_overrides: object) -> Cluster:
    namesrv, namesrv_addr = start_namesrv(workdir)
    try:
        props = broker_properties(workdir, namesrv_addr, **broker_overrides)
        broker = start_broker(workdir, props)
    except BaseException:
        namesrv.stop()
        raise
    return Cluster(workdir, namesrv, namesrv_addr, broker, props)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One NameServer and one broker shared by a test module."""
    running = make_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield running
    finally:
        running.stop()
