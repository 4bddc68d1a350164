"""DLedger-mode settings (store-and-replication.md §9.1), taken from the broker's
properties by BrokerConfig.dledger_config(). Pure: no I/O.

`dLegerPeers` lists every member of a Raft group as `id-host:port` joined by `;`, e.g.
`n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913`; the port is the DLedger RPC
port, not the broker's listenPort. A member id is letters followed by digits (`n0`)
because the broker derives its brokerId from the digits (follower_broker_id).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from orbitmq.config_file import ConfigError

__all__ = ["DLedgerConfig", "follower_broker_id", "format_peers", "parse_peers"]

_PEER_ID = re.compile(r"[A-Za-z_]*([0-9]+)")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")


@dataclass(frozen=True, slots=True)
class DLedgerConfig:
    """One broker's view of its Raft group.

    Attributes:
        group: dLegerGroup (defaults to brokerName).
        self_id: dLegerSelfId, a key of `peers`.
        peers: every member id -> (host, DLedger RPC port), in dLegerPeers order.
        preferred_leader_ids: preferredLeaderId entries, each a key of `peers`.
        data_dir: storePathDLedgerCommitLog, else `<storePathRootDir>/dledger-<selfId>`.
        heartbeat_interval_ms: dLegerHeartBeatIntervalMs, the leader's heartbeat period.
        election_timeout_ms: dLegerElectionTimeoutMs = T; a follower that hears no
            leader waits a random time in [T, 2T) before it stands for election.
        sync_flush: flushDiskType=SYNC_FLUSH: a member acknowledges an entry only once
            it is fsynced, so a quorum ack means a majority has it on disk.
        data_file_size: mappedFileSizeCommitLog, the size of one data file.
    """

    group: str
    self_id: str
    peers: dict[str, tuple[str, int]]
    preferred_leader_ids: tuple[str, ...]
    data_dir: str
    heartbeat_interval_ms: int
    election_timeout_ms: int
    sync_flush: bool
    data_file_size: int

    @property
    def self_address(self) -> tuple[str, int]:
        """Where this member listens for DLedger RPCs."""
        return self.peers[self.self_id]

    @property
    def quorum(self) -> int:
        return len(self.peers) // 2 + 1


def follower_broker_id(self_id: str) -> int:
    """The brokerId a member registers with while it follows: its id's digits + 1
    (`n0` -> 1, `n1` -> 2), as RocketMQ's DLedger role handler computes it; the leader
    registers as 0.

    Raises:
        ValueError: `self_id` is not letters followed by digits.
    """
    match = _PEER_ID.fullmatch(self_id)
    if match is None:
        raise ValueError(f"DLedger member id {self_id!r} is not letters followed by digits")
    return int(match.group(1)) + 1


def _valid_host(host: str) -> bool:
    if _DOTTED_NUMBERS.fullmatch(host):
        # All digits and dots: it must be a whole IPv4 address, never a hostname.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


def _parse_peer(entry: str) -> tuple[str, str, int]:
    peer_id, dash, address = entry.partition("-")
    host, colon, port_text = address.rpartition(":")
    if (
        not dash
        or not colon
        or _PEER_ID.fullmatch(peer_id) is None
        or not _valid_host(host)
        or not port_text.isdigit()
        or not 0 < int(port_text) < 65536
    ):
        raise ConfigError(
            f"dLegerPeers entry {entry!r} is not id-host:port "
            "(id: letters then digits, e.g. n0-127.0.0.1:40911)"
        )
    return peer_id, host, int(port_text)


def parse_peers(text: str) -> dict[str, tuple[str, int]]:
    """`n0-127.0.0.1:40911;n1-host1:40912` -> {"n0": ("127.0.0.1", 40911), ...}.

    Entries keep the text's order; blanks around entries and empty entries are skipped.

    Raises:
        ConfigError: naming dLegerPeers and the entry: an entry that is not
            `id-host:port`, an id or host:port listed twice, or two ids that give
            the same brokerId (`n1` and `m1`).
    """
    peers: dict[str, tuple[str, int]] = {}
    broker_ids: dict[int, str] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        peer_id, host, port = _parse_peer(entry)
        if peer_id in peers:
            raise ConfigError(f"dLegerPeers lists id {peer_id} twice (entry {entry!r})")
        owner = next((i for i, address in peers.items() if address == (host, port)), None)
        if owner is not None:
            raise ConfigError(
                f"dLegerPeers entry {entry!r} uses {host}:{port}, as {owner} does already"
            )
        broker_id = follower_broker_id(peer_id)
        if broker_id in broker_ids:
            raise ConfigError(
                f"dLegerPeers entry {entry!r}: ids {broker_ids[broker_id]} and {peer_id} "
                f"would both register as brokerId {broker_id}"
            )
        broker_ids[broker_id] = peer_id
        peers[peer_id] = (host, port)
    return peers


def format_peers(peers: dict[str, tuple[str, int]]) -> str:
    """The dLegerPeers text of `peers`: the inverse of parse_peers."""
    return ";".join(f"{peer_id}-{host}:{port}" for peer_id, (host, port) in peers.items())
