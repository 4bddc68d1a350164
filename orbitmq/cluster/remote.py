"""How `orbitmq cluster` reaches a host: this machine directly, others over ssh (asyncssh).

Every host answers the same agent requests (agent.py); a remote one runs the agent with
the virtualenv `cluster install` made under its home. ssh authenticates as the user's
ssh does: the hosts file's key, else the user's keys and agent; host keys are checked
against known_hosts (the hosts file's, else ~/.ssh/known_hosts). No password is read.

A host whose link is down would hold a plain TCP connect for minutes; the connect
timeout (default 5 s) reports it within seconds instead, and keepalives end a session
whose host vanishes half-way.
"""

from __future__ import annotations

import asyncio
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from orbitmq.cluster import agent
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.hosts import HostEntry

__all__ = ["HostLink", "HostUnreachable", "LocalLink", "SshLink", "shell_path"]

DEFAULT_CONNECT_TIMEOUT = 5.0
_KEEPALIVE_INTERVAL = 5.0
_KEEPALIVE_COUNT_MAX = 3


class HostUnreachable(ClusterError):
    """ssh to the host failed: down, refused, or not authenticated."""


class HostLink(Protocol):
    host: str  # "" for this machine

    async def call(self, request: dict[str, Any], timeout: float) -> Any: ...

    async def close(self) -> None: ...


def shell_path(path: str) -> str:
    """`path` quoted for a POSIX shell, with a leading `~` left for the shell to expand."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _sftp_path(path: str) -> str:
    """SFTP paths are relative to the login directory, which is the user's home."""
    if path == "~":
        return "."
    return path[2:] if path.startswith("~/") else path


class LocalLink:
    """This machine: the agent's functions run in a thread of this process."""

    host = ""

    async def call(self, request: dict[str, Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.to_thread(agent.handle, request), timeout)

    async def close(self) -> None:
        pass


def _asyncssh() -> Any:
    with warnings.catch_warnings():
        # cryptography warns about DSA on import; no DSA key is used here.
        warnings.simplefilter("ignore")
        import asyncssh
    return asyncssh


class SshLink:
    """One ssh connection to a host, opened on first use and shared by its requests."""

    def __init__(
        self,
        entry: HostEntry,
        known_hosts: str | None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.host = entry.address
        self.entry = entry
        self._known_hosts = known_hosts
        self._connect_timeout = connect_timeout
        self._connection: Any = None
        self._lock = asyncio.Lock()

    def _where(self) -> str:
        user = f"{self.entry.user}@" if self.entry.user else ""
        return f"{user}{self.host}:{self.entry.port}"

    async def _connect(self) -> Any:
        async with self._lock:
            if self._connection is not None:
                return self._connection
            asyncssh = _asyncssh()
            options: dict[str, Any] = {
                "port": self.entry.port,
                "connect_timeout": self._connect_timeout,
                "login_timeout": self._connect_timeout * 2,
                "keepalive_interval": _KEEPALIVE_INTERVAL,
                "keepalive_count_max": _KEEPALIVE_COUNT_MAX,
            }
            if self.entry.user:
                options["username"] = self.entry.user
            if self.entry.key:
                options["client_keys"] = [self.entry.key]
            if self._known_hosts:
                options["known_hosts"] = self._known_hosts
            try:
                self._connection = await asyncssh.connect(self.host, **options)
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, asyncio.TimeoutError):
                    reason = f"no answer within {self._connect_timeout:g} s"
                raise HostUnreachable(f"ssh {self._where()}: {reason}") from exc
            return self._connection

    async def run(
        self, command: str, timeout: float, stdin: bytes | None = None
    ) -> tuple[int, str, str]:
        """Run `command` in the remote user's shell; (exit status, stdout, stderr).

        Raises:
            HostUnreachable: ssh failed, or the command outlived `timeout` seconds.
        """
        connection = await self._connect()
        asyncssh = _asyncssh()
        try:
            done = await asyncio.wait_for(
                connection.run(command, input=stdin, encoding=None, check=False), timeout
            )
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            reason = str(exc) or f"no answer within {timeout:g} s"
            raise HostUnreachable(f"ssh {self._where()}: {reason}") from exc
        status = done.exit_status if done.exit_status is not None else 255
        stdout = (done.stdout or b"").decode(errors="replace")
        return status, stdout, (done.stderr or b"").decode(errors="replace")

    async def call(self, request: dict[str, Any], timeout: float) -> Any:
        """Run the agent on the host with `request`; its result.

        Raises:
            HostUnreachable: ssh failed.
            ClusterError: the agent is missing (not installed) or failed.
        """
        command = f"{shell_path(self.entry.venv_python)} -m orbitmq.cluster.agent"
        status, stdout, stderr = await self.run(command, timeout, orjson.dumps(request))
        try:
            answer = orjson.loads(stdout)
        except orjson.JSONDecodeError:
            hint = ""
            if status == 127 or "No such file" in stderr:
                hint = " (OrbitMQ is not installed there: run `orbitmq cluster install DIR`)"
            raise ClusterError(
                f"{self.host}: the agent failed (exit {status}){hint}: {stderr.strip()[-500:]}"
            ) from None
        if not answer.get("ok"):
            raise ClusterError(f"{self.host}: {answer.get('error')}")
        return answer["result"]

    async def put(self, files: Sequence[Path], remote_dir: str, timeout: float) -> None:
        """Copy `files` into `remote_dir` (made if missing), skipping any already there
        with the same size (wheels are named by version and build)."""
        connection = await self._connect()
        asyncssh = _asyncssh()
        target = _sftp_path(remote_dir)
        try:
            async with asyncio.timeout(timeout), connection.start_sftp_client() as sftp:
                await sftp.makedirs(target, exist_ok=True)
                present = {entry.filename: entry.attrs.size for entry in await sftp.readdir(target)}
                todo = [f for f in files if present.get(f.name) != f.stat().st_size]
                if todo:
                    await sftp.put([str(f) for f in todo], target)
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise HostUnreachable(f"sftp {self._where()}: {exc or 'timed out'}") from exc

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            await self._connection.wait_closed()
            self._connection = None
