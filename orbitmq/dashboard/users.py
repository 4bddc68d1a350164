"""The console's users, from a rocketmq-dashboard style `users.properties`:
`name=password[,1]`; `1` makes an admin, anything else a read-only user. The file is
re-read when it changes, as rocketmq-dashboard does."""

from __future__ import annotations

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
    def __init__(self, path: Path) -> None:
        self.path = path
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

    def lookup(self, name: str) -> User | None:
        """The user a session names, if still in the file (removed users are logged out)."""
        self._reload()
        entry = self._users.get(name)
        return None if entry is None else User(name, entry[1])
