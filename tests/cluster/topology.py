"""The 2m-2s deployment table, read from the conf/ templates the project ships.

RocketMQ's 2m-2s layout puts one broker on each of four hosts (host1 broker-a,
host2 broker-a-s, host3 broker-b, host4 broker-b-s), each host also running a
NameServer. The templates under conf/2m-2s-{async,sync} are written for one machine;
their header says what to change for real hosts (namesrvAddr, brokerIP1, listenPort,
storePathRootDir). Tests start from those files and apply exactly such changes, so a
template that stops describing a working 2m-2s cluster fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orbitmq.config_file import read_properties

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass(frozen=True, slots=True)
class BrokerSlot:
    """One broker of the table: its template file stem and the host that runs it."""

    stem: str  # broker-a, broker-a-s, ...
    host: int  # 1..4
    broker_name: str
    is_slave: bool


TWO_MASTERS_TWO_SLAVES: tuple[BrokerSlot, ...] = (
    BrokerSlot("broker-a", 1, "broker-a", False),
    BrokerSlot("broker-a-s", 2, "broker-a", True),
    BrokerSlot("broker-b", 3, "broker-b", False),
    BrokerSlot("broker-b-s", 4, "broker-b", True),
)

# Small segments keep the stores of a test cheap; a shorter registration period (RocketMQ
# clamps it to 10-60 s) makes a returning broker visible sooner.
TEST_OVERRIDES: dict[str, object] = {
    "mapedFileSizeCommitLog": 64 * 1024 * 1024,
    "mapedFileSizeConsumeQueue": 60_000,
    "registerNameServerPeriod": 10_000,
}


def template(mode: str, stem: str) -> dict[str, object]:
    """The properties of conf/<mode>/<stem>.properties.

    Raises:
        AssertionError: the template is missing (piece C's deliverable).
    """
    path = CONF_DIR / mode / f"{stem}.properties"
    assert path.is_file(), f"template {path} is missing"
    return dict(read_properties(path))
