from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ProxiedCluster, client_python, start_cluster_mode, start_local_mode

# A test taking `cluster` runs against both: a broker serving gRPC, and mqproxy.
BOTH_MODES = pytest.mark.parametrize("cluster", ["local", "cluster"], indirect=True)


@pytest.fixture(scope="session", autouse=True)
def _clients_env() -> None:
    client_python()


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedCluster]:
    cluster = start_local_mode(tmp_path_factory.mktemp("grpc-local"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def proxy_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedCluster]:
    cluster = start_cluster_mode(tmp_path_factory.mktemp("grpc-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """HOME of a client process (its log file lands there)."""
    return tmp_path


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> ProxiedCluster:
    """The cluster a parametrized test names: "local" (mqbroker --enable-proxy) or
    "cluster" (mqproxy in front of two broker sets)."""
    mode = getattr(request, "param", "local")
    return request.getfixturevalue("local_cluster" if mode == "local" else "proxy_cluster")
