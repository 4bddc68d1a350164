"""plain_acl.yml on disk: loaded at start, reloaded when its mtime changes (polled), and
edited by the ACL admin requests (written to a temporary file, then renamed).

A file that fails to parse keeps the previous config and is logged once per change; at
start it is an error only if it exists and is bad (a missing file is an empty config:
only white-listed addresses get in, as with RocketMQ's default file with no accounts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orbitmq.acl.address import host_of
from orbitmq.acl.config import AclConfig, dump_acl_yaml, parse_acl_yaml
from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.validator import validate, validate_namesrv
from orbitmq.protocol.command import RemotingCommand

log = logging.getLogger(__name__)

RELOAD_INTERVAL = 0.5  # seconds between mtime checks
ACL_FILE_KEY = "rocketmq.acl.plain.file"


def default_acl_path() -> Path:
    """$ORBITMQ_HOME/conf/plain_acl.yml (RocketMQ: $ROCKETMQ_HOME/conf/plain_acl.yml)."""
    home = os.path.expanduser(os.environ.get("ORBITMQ_HOME", "~/orbitmq"))
    return Path(home) / "conf" / "plain_acl.yml"


def resolve_acl_path(configured: str) -> Path:
    return Path(os.path.expanduser(configured)) if configured else default_acl_path()


class AclStore:
    """The current AclConfig of one file, and a validator over it for a dispatcher."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config: AclConfig = parse_acl_yaml("")
        self.counter = 0  # DataVersion counter: one more on every (re)load
        self.timestamp = 0  # DataVersion timestamp (ms) of the last (re)load
        self._stamp: tuple[int, int] | None = None

    # Loading ------------------------------------------------------------------------
    def load(self) -> None:
        """Read the file now.

        Raises:
            AclConfigError: the file exists but cannot be read or parsed.
        """
        stamp = self._file_stamp()
        if stamp is None:
            log.warning("ACL file %s does not exist: only white-listed addresses get in", self.path)
            self._set(parse_acl_yaml(""), None)
            return
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AclConfigError(f"cannot read ACL file {self.path}: {exc}") from exc
        try:
            config = parse_acl_yaml(text)
        except AclConfigError as exc:
            raise AclConfigError(f"ACL file {self.path}: {exc}") from None
        self._set(config, stamp)

    def _set(self, config: AclConfig, stamp: tuple[int, int] | None) -> None:
        self.config = config
        self._stamp = stamp
        self.counter += 1
        self.timestamp = int(time.time() * 1000)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reload_if_changed(self) -> bool:
        """Reload when the file's mtime or size changed; a bad file keeps the previous
        config (logged). True when a new config was taken."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        try:
            self.load()
        except AclConfigError as exc:
            self._stamp = stamp  # log a bad version once, retry when it changes again
            log.error("%s; keeping the previous ACL config", exc)
            return False
        log.info("ACL file %s reloaded (%d accounts)", self.path, len(self.config.accounts))
        return True

    async def reload_service(self, interval: float = RELOAD_INTERVAL) -> None:
        while True:
            await asyncio.sleep(interval)
            self.reload_if_changed()

    # Checking -----------------------------------------------------------------------
    def validator(self, namesrv: bool = False) -> Callable[[Any, RemotingCommand], None]:
        """A RequestDispatcher.validator checking each request against the current file
        (`namesrv`: only the NameServer's writes, validate_namesrv)."""
        check_one = validate_namesrv if namesrv else validate

        def check(connection: Any, request: RemotingCommand) -> None:
            check_one(self.config, request, host_of(connection.peer_address))

        return check

    # Editing ------------------------------------------------------------------------
    def write(self, document: Mapping[str, Any]) -> None:
        """Replace the file with `document` and take it at once.

        Raises:
            AclConfigError: the file cannot be written.
        """
        text = dump_acl_yaml(document)
        config = parse_acl_yaml(text)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise AclConfigError(f"cannot write ACL file {self.path}: {exc}") from exc
        self._set(config, self._file_stamp())

    def data_version(self) -> dict[str, int]:
        """RocketMQ's DataVersion JSON of the ACL config."""
        return {"counter": self.counter, "timestamp": self.timestamp}
