"""The hosts file, `DIR/hosts`: how to reach each host a template's addresses name.
Pure: parses text (ARCHITECTURE.md §3 has the format, docs/deployment.md the guide).

    # comment
    ADDRESS [user=NAME] [port=22] [key=PATH] [home=PATH] [python=PATH]
    known_hosts=PATH

No password is ever read: ssh authenticates with the user's keys and agent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orbitmq.config_file import ConfigError

__all__ = ["DEFAULT_REMOTE_HOME", "HOSTS_FILE", "HostEntry", "Inventory", "load_inventory"]

HOSTS_FILE = "hosts"
DEFAULT_REMOTE_HOME = "~/orbitmq"
_KEYS = ("user", "port", "key", "home", "python")


@dataclass(frozen=True, slots=True)
class HostEntry:
    address: str
    user: str | None = None  # None: the current user, as ssh does
    port: int = 22
    key: str | None = None  # None: the user's ssh configuration and agent
    home: str = DEFAULT_REMOTE_HOME  # as the remote shell reads it (`~` is the remote home)
    python: str = "python3"  # makes the virtualenv there

    @property
    def venv_python(self) -> str:
        return f"{self.home}/venv/bin/python"


@dataclass(frozen=True, slots=True)
class Inventory:
    hosts: dict[str, HostEntry]  # address -> entry, in file order
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts, as ssh does
    path: Path | None = None

    def entry(self, address: str) -> HostEntry:
        try:
            return self.hosts[address]
        except KeyError:
            raise ConfigError(
                f"{self.path}: no line for host {address}, which the template's files name; "
                f"add `{address} user=… key=…`"
            ) from None


def _parse_line(text: str, where: str, folder: Path) -> tuple[str, dict[str, str]]:
    address, *fields = text.split()
    values: dict[str, str] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        if key == "password":
            raise ConfigError(f"{where}: passwords are not read; use a key (key=PATH) or an agent")
        if not sep or key not in _KEYS or not value:
            known = ", ".join(f"{k}=…" for k in _KEYS)
            raise ConfigError(f"{where}: {field!r} is not one of {known}")
        values[key] = value
    if "key" in values:
        values["key"] = _local_path(values["key"], folder)
    return address, values


def _local_path(value: str, folder: Path) -> str:
    """A file on this machine: `~` expands; relative paths are relative to the folder."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (folder / path).absolute())


def parse_inventory(text: str, path: Path) -> Inventory:
    """Raises:
    ConfigError: a line names an unknown key, a password, a bad port or a host twice."""
    hosts: dict[str, HostEntry] = {}
    known_hosts: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        if line.startswith("known_hosts="):
            value = line.partition("=")[2].strip()
            if not value:
                raise ConfigError(f"{where}: known_hosts= needs a path")
            known_hosts = _local_path(value, path.parent)
            continue
        address, values = _parse_line(line, where, path.parent)
        if address in hosts:
            raise ConfigError(f"{where}: host {address} is listed twice")
        port = values.pop("port", "22")
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ConfigError(f"{where}: port={port} is not a TCP port")
        hosts[address] = HostEntry(address, port=int(port), **values)
    if not hosts:
        raise ConfigError(f"{path}: no host lines")
    return Inventory(hosts, known_hosts, path)


def load_inventory(folder: str | os.PathLike[str]) -> Inventory | None:
    """FOLDER/hosts, or None when the folder has none (every process on this machine)."""
    path = Path(folder) / HOSTS_FILE
    if not path.is_file():
        return None
    return parse_inventory(path.read_text(encoding="utf-8"), path)
