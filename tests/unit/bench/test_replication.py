"""`orbitmq bench replication`'s pure parts: DLedger follower lag from a leader's Raft
status, and the --port-offset that moves conf/dledger onto free ports."""

from __future__ import annotations

from pathlib import Path

from orbitmq.bench.replication import DLEDGER_TEMPLATE, LagSample, follower_lags, free_port_offset
from orbitmq.bench.suite.servers import is_port_free
from orbitmq.cluster.template import load_plan


def _leader_status(last_index: int, match: dict[str, int]) -> dict[str, object]:
    """The shape of a leader's METADATA answer (orbitmq/dledger/raft.py `status`)."""
    return {
        "role": "LEADER",
        "last_index": last_index,
        "committed_index": last_index - 1,
        "peers": {peer: {"match_index": index, "next_index": index + 1}
                  for peer, index in match.items()},
    }  # fmt: skip


def test_follower_lag_is_entries_and_bytes_behind_the_leader() -> None:
    status = _leader_status(120, {"n0": 120, "n1": 117, "n2": 120})
    offsets = {"n0": 50_000, "n1": 46_000, "n2": 50_000}
    assert follower_lags(status, offsets, "n0") == {
        "n1": LagSample(bytes=4_000, entries=3),
        "n2": LagSample(bytes=0, entries=0),
    }
    assert not LagSample(4_000, 3).caught_up
    assert not LagSample(0, 3).caught_up  # entries not yet on the follower's Raft log
    assert not LagSample(10, 0).caught_up  # held but not yet applied to its commit log
    assert LagSample(0, 0).caught_up and LagSample(0).caught_up


def test_follower_read_after_the_leader_counts_as_no_byte_lag() -> None:
    # The follower's offset was read a moment later than the leader's and is ahead.
    status = _leader_status(7, {"n0": 7, "n1": 5, "n2": 7})
    lags = follower_lags(status, {"n0": 1_000, "n1": 1_200, "n2": 1_000}, "n0")
    assert lags["n1"] == LagSample(bytes=0, entries=2)


def test_port_offset_puts_every_dledger_port_on_a_free_non_ephemeral_port() -> None:
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    offset = free_port_offset(DLEDGER_TEMPLATE)
    ports = load_plan(DLEDGER_TEMPLATE, "/unused", offset, console_port=None).ports()
    assert len(ports) == 2 + 3 * 3  # two NameServers; each member's VIP, listen, Raft port
    assert all(1024 <= port < low or high < port <= 65535 for port in ports), ports
    assert all(is_port_free(port) for port in ports)
