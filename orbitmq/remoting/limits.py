"""Resource limits of a remoting server, and the once-per-address refusal log.

A server must stay up whatever its clients do (docs/limits.md): it caps connections per
server and per client address, cuts a frame that does not complete in time, bounds what
it queues for a client that stops reading, and closes idle connections. Each refusal is
logged once per client address and kind in a window, so a flood of refusals from one
address costs one log line, not one per connection or frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from orbitmq.protocol.frame import DEFAULT_MAX_FRAME_SIZE

log = logging.getLogger(__name__)

# How long a logged (kind, address) stays quiet; later refusals are counted meanwhile.
REFUSAL_LOG_WINDOW_SECONDS = 600.0
# Beyond this many remembered addresses the oldest quiet ones are forgotten, so that a
# scan from many addresses cannot grow the log's memory without bound.
_MAX_REMEMBERED = 4096


@dataclass(frozen=True, slots=True)
class RemotingLimits:
    """One server's limits; every field is a `.properties` key (docs/limits.md)."""

    max_connections: int = 10_000  # serverMaxConnections
    max_connections_per_address: int = 1_000  # serverMaxConnectionsPerAddress
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE  # com.rocketmq.remoting.frameMaxLength
    frame_timeout_seconds: float = 30.0  # serverFrameReadTimeoutSeconds
    write_buffer_high_water_mark: int = 4 * 1024 * 1024  # writeBufferHighWaterMark
    write_buffer_low_water_mark: int = 1024 * 1024  # writeBufferLowWaterMark
    write_blocked_timeout_seconds: float = 30.0  # serverWriteBlockedTimeoutSeconds
    idle_seconds: float = 120.0  # serverChannelMaxIdleTimeSeconds

    @property
    def scan_period_seconds(self) -> float:
        """How often connections are checked against the time limits."""
        return max(
            0.05,
            min(
                1.0,
                self.frame_timeout_seconds / 4,
                self.write_blocked_timeout_seconds / 4,
                self.idle_seconds / 4,
            ),
        )


class LimitSettings(Protocol):
    """The limit fields BrokerConfig and NamesrvConfig share (their `.properties` keys)."""

    server_max_connections: int
    server_max_connections_per_address: int
    frame_max_length: int
    server_frame_read_timeout_seconds: int
    write_buffer_high_water_mark: int
    write_buffer_low_water_mark: int
    server_write_blocked_timeout_seconds: int
    server_channel_max_idle_seconds: int


def limits_from(config: LimitSettings) -> RemotingLimits:
    """The limits a config file sets; a water mark of 0 is RocketMQ's "not set"."""
    default = RemotingLimits()
    high = config.write_buffer_high_water_mark or default.write_buffer_high_water_mark
    low = config.write_buffer_low_water_mark or default.write_buffer_low_water_mark
    return RemotingLimits(
        max_connections=config.server_max_connections,
        max_connections_per_address=config.server_max_connections_per_address,
        max_frame_size=config.frame_max_length,
        frame_timeout_seconds=float(config.server_frame_read_timeout_seconds),
        write_buffer_high_water_mark=high,
        write_buffer_low_water_mark=min(low, high),
        write_blocked_timeout_seconds=float(config.server_write_blocked_timeout_seconds),
        idle_seconds=float(config.server_channel_max_idle_seconds),
    )


class RefusalLog:
    """Logs a refusal of a client address once per kind and window, not per event."""

    def __init__(self, name: str, window_seconds: float = REFUSAL_LOG_WINDOW_SECONDS) -> None:
        self._name = name
        self._window = window_seconds
        # (kind, host) -> [time of the last logged line, refusals since]
        self._seen: dict[tuple[str, str], list[float]] = {}

    def refused(
        self, kind: str, host: str, now: float, detail: str, level: int = logging.WARNING
    ) -> None:
        key = (kind, host)
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self._window:
            entry[1] += 1
            return
        suppressed = int(entry[1]) if entry is not None else 0
        if entry is None and len(self._seen) >= _MAX_REMEMBERED:
            self._forget_quiet(now)
        self._seen[key] = [now, 0]
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.log(
            level,
            "%s: %s from %s: %s; further ones from this address are logged at most "
            "once every %.0f s%s",
            self._name,
            kind,
            host,
            detail,
            self._window,
            more,
        )

    def _forget_quiet(self, now: float) -> None:
        for key in [k for k, (t, _) in self._seen.items() if now - t >= self._window]:
            del self._seen[key]
        if len(self._seen) >= _MAX_REMEMBERED:
            self._seen.clear()  # all recent: forgetting them costs at most a line each
