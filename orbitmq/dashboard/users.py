"""The console's users, from a rocketmq-dashboard style `users.properties`:
`name=password[,1]`; `1` makes an admin, anything else a read-only user. The file is
re-read when it changes, as rocketmq-dashboard does."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import javaproperties


class UsersFileError(Exception):
    """users.properties is missing or has a line that is not `name=password[,N]`."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    is_admin: bool


def parse_users(text: str, where: str = "users.properties") -> dict[str, tuple[str, bool]]:
    users: dict[str, tuple[str, bool]] = {}
    for name, value in javaproperties.loads(text).items():
        password, _, role = value.partition(",")
        if not name or not password:
            raise UsersFileError(f"{where}: user {name!r} has no password (name=password[,1])")
        users[name] = (password, role.strip() == "1")
    return users


class UserStore:
    """Args:
    path: the users.properties file.
    stamp_key: keys `stamp`, so a stamp in a (readable) session cookie tells nothing
        about the password.
    """

    def __init__(self, path: Path, stamp_key: bytes = b"") -> None:
        self.path = path
        self._stamp_key = stamp_key
        self._mtime: float | None = None
        self._users: dict[str, tuple[str, bool]] = {}

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError as exc:
            raise UsersFileError(
                f"login is required but {self.path} does not exist: create it with lines "
                "`name=password,1` (admin) or `name=password` (read-only)"
            ) from exc
        if mtime != self._mtime:
            self._users = parse_users(self.path.read_text(encoding="utf-8"), str(self.path))
            self._mtime = mtime

    def check_file(self) -> int:
        """Load the file now (at start, so a bad file stops the console); the user count."""
        self._reload()
        return len(self._users)

    def authenticate(self, name: str, password: str) -> User | None:
        self._reload()
        entry = self._users.get(name)
        if entry is None or not hmac.compare_digest(entry[0].encode(), password.encode()):
            return None
        return User(name, entry[1])

    def stamp(self, name: str) -> str | None:
        """What a session keeps of the user's credentials: it changes when the password or
        the role in the file does, which ends the sessions made before."""
        self._reload()
        entry = self._users.get(name)
        if entry is None:
            return None
        text = f"{name}\0{entry[0]}\0{int(entry[1])}".encode()
        return hmac.new(self._stamp_key, text, hashlib.sha256).hexdigest()[:32]

    def lookup(self, name: str, stamp: str) -> User | None:
        """The user a session names, while the file still has them with the credentials
        the session was made with (removed users and changed passwords log out)."""
        current = self.stamp(name)
        if current is None or not hmac.compare_digest(current, stamp):
            return None
        return User(name, self._users[name][1])
