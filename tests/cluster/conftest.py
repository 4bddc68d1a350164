"""The `lan` fixture: a private network of namespaces, removed even when a test fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.netns import VirtualLan, unavailable_reason


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[VirtualLan]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable: {reason}")
    network = VirtualLan(tmp_path)
    try:
        network.build()
        yield network
    finally:
        network.destroy()
