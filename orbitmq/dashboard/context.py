"""The console's shared state: its config, users, the admin client of the NameServer list
in use (switchable from the Ops page), and calls to many brokers at once that never wait
on a dead one for longer than `admin_timeout`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson

from orbitmq.client import MQAdmin
from orbitmq.client.admin import ClusterInfo
from orbitmq.client.errors import ClientError
from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.history import write_atomically
from orbitmq.dashboard.security import session_secret
from orbitmq.dashboard.users import UserStore
from orbitmq.errors import OrbitMQError

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a call to one server can fail with: its error answer, a timeout, a refused or
# broken connection.
CALL_ERRORS = (OrbitMQError, ClientError, OSError, asyncio.TimeoutError)
# What decoding an answer that is not what the request asks for can raise (a body that is
# not JSON, or JSON of another shape): that server's failure, not the whole page's.
MALFORMED_ANSWER = (ValueError, LookupError, TypeError, AttributeError)


@dataclass(frozen=True, slots=True)
class BrokerFailure:
    """A server that did not answer, or answered with an error, and why."""

    name: str
    addr: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.addr}): {self.reason}"


def describe_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"did not answer within {timeout:g} s"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"


class Console:
    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.session_key = session_secret(config.data_path)
        self.users = UserStore(config.users_file, stamp_key=self.session_key.encode())
        self.namesrv_addr = config.namesrv_addr
        self.namesrv_choices: list[str] = self._load_ops()
        if self.namesrv_addr not in self.namesrv_choices:
            self.namesrv_choices.insert(0, self.namesrv_addr)
        self.admin = self._new_admin()

    def _new_admin(self) -> MQAdmin:
        return MQAdmin(
            self.namesrv_addr,
            timeout=self.config.admin_timeout,
            instance_name="dashboard",
            credentials=self.config.credentials,
        )

    # Ops: the NameServer list in use, kept across restarts (rocketmq-dashboard keeps it
    # in memory only, so a restart silently went back to the default).
    @property
    def _ops_file(self) -> Path:
        return self.config.data_path / "ops.json"

    def _load_ops(self) -> list[str]:
        try:
            data = orjson.loads(self._ops_file.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return []
        return [str(a) for a in data.get("namesrvAddrList", []) if a]

    def _save_ops(self) -> None:
        body = {"namesrvAddrList": self.namesrv_choices, "current": self.namesrv_addr}
        write_atomically(self._ops_file, orjson.dumps(body, option=orjson.OPT_INDENT_2))

    async def switch_namesrv(self, addr: str) -> None:
        """Use another NameServer list from now on; the old admin client is closed."""
        old = self.admin
        self.namesrv_addr = addr
        if addr not in self.namesrv_choices:
            self.namesrv_choices.append(addr)
        self.admin = self._new_admin()
        self._save_ops()
        log.info("console now uses NameServer list %s", addr)
        await old.shutdown()

    async def aclose(self) -> None:
        await self.admin.shutdown()

    def namesrv_failure(self, exc: BaseException) -> BrokerFailure:
        """The NameServer list in use did not answer, or answered with an error."""
        reason = describe_error(exc, self.config.admin_timeout)
        return BrokerFailure("NameServer", self.namesrv_addr, reason)

    # Calls -----------------------------------------------------------------------------
    async def bounded(self, call: Awaitable[T]) -> T:
        """One call, failing with TimeoutError after admin_timeout."""
        return await asyncio.wait_for(call, self.config.admin_timeout)

    async def each(
        self,
        targets: Iterable[tuple[str, str]],
        call: Callable[[str], Awaitable[T]],
        limit: int = 32,
    ) -> tuple[dict[str, T], list[BrokerFailure]]:
        """`call(addr)` for every (name, addr) at once (at most `limit` in flight); the
        answers by address, and the servers that failed with why."""
        semaphore = asyncio.Semaphore(limit)
        answers: dict[str, T] = {}
        failures: list[BrokerFailure] = []

        async def one(name: str, addr: str) -> None:
            async with semaphore:
                try:
                    answers[addr] = await self.bounded(call(addr))
                except CALL_ERRORS as exc:
                    reason = describe_error(exc, self.config.admin_timeout)
                    log.warning("console: %s at %s: %s", name, addr, reason)
                    failures.append(BrokerFailure(name, addr, reason))
                except MALFORMED_ANSWER as exc:
                    log.warning("console: %s at %s: malformed answer", name, addr, exc_info=True)
                    reason = "malformed answer: " + describe_error(exc, 0)
                    failures.append(BrokerFailure(name, addr, reason))

        await asyncio.gather(*(one(name, addr) for name, addr in targets))
        return answers, failures

    async def cluster_info(self) -> ClusterInfo:
        return await self.bounded(self.admin.cluster_info())

    async def masters(self) -> list[tuple[str, str]]:
        """(broker name, master address) of every broker set that has a master."""
        info = await self.cluster_info()
        return sorted(
            (name, data.master_addr)
            for name, data in info.broker_addr_table.items()
            if data.master_addr is not None
        )

    async def all_brokers(self) -> list[tuple[str, int, str]]:
        """(broker name, broker id, address) of every broker, slaves too."""
        info = await self.cluster_info()
        return sorted(
            (name, broker_id, addr)
            for name, data in info.broker_addr_table.items()
            for broker_id, addr in data.broker_addrs.items()
        )
