"""The hosts file: how each host a template names is reached. Parsing, defaults, local
paths (key=, known_hosts=) and the errors that name file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orbitmq.cluster.hosts import (
    DEFAULT_REMOTE_HOME,
    HOSTS_FILE,
    HostEntry,
    Inventory,
    load_inventory,
    parse_inventory,
)
from orbitmq.config_file import ConfigError


def _parse(text: str, tmp_path: Path) -> Inventory:
    return parse_inventory(text, tmp_path / HOSTS_FILE)


def test_line_with_every_key(tmp_path: Path) -> None:
    inventory = _parse(
        "10.0.0.1 user=mq port=2222 key=/keys/id_ed25519 home=/opt/orbitmq "
        "python=/usr/bin/python3.12\n",
        tmp_path,
    )
    assert inventory.hosts == {
        "10.0.0.1": HostEntry(
            "10.0.0.1",
            user="mq",
            port=2222,
            key="/keys/id_ed25519",
            home="/opt/orbitmq",
            python="/usr/bin/python3.12",
        )
    }
    assert inventory.path == tmp_path / HOSTS_FILE
    assert inventory.hosts["10.0.0.1"].venv_python == "/opt/orbitmq/venv/bin/python"


def test_bare_address_takes_the_defaults(tmp_path: Path) -> None:
    entry = _parse("host1\n", tmp_path).entry("host1")
    assert entry == HostEntry("host1", user=None, port=22, key=None, python="python3")
    assert entry.home == DEFAULT_REMOTE_HOME == "~/orbitmq"  # the remote shell expands `~`
    assert entry.venv_python == "~/orbitmq/venv/bin/python"


def test_comments_blank_lines_and_order(tmp_path: Path) -> None:
    text = (
        "# how to reach the hosts\n"
        "\n"
        "   \n"
        "host3 user=c   # trailing comment\n"
        "\thost1\tport=23\n"
        "host2 # user=ignored\n"
    )
    inventory = _parse(text, tmp_path)
    assert list(inventory.hosts) == ["host3", "host1", "host2"]  # file order
    assert inventory.entry("host3").user == "c"
    assert inventory.entry("host1").port == 23
    assert inventory.entry("host2").user is None
    assert inventory.known_hosts is None  # ssh's own default


def test_key_and_known_hosts_are_paths_on_this_machine(tmp_path: Path) -> None:
    text = (
        "known_hosts=ssh/known_hosts\n"
        "a key=keys/id_a\n"
        "b key=~/.ssh/id_b\n"
        "c key=/abs/id_c\n"
        "d home=relative/home\n"
    )
    inventory = _parse(text, tmp_path)
    # Relative: to the hosts file's folder, not to the current directory.
    assert inventory.known_hosts == str(tmp_path / "ssh" / "known_hosts")
    assert inventory.entry("a").key == str(tmp_path / "keys" / "id_a")
    assert inventory.entry("b").key == str(Path("~/.ssh/id_b").expanduser())
    assert inventory.entry("c").key == "/abs/id_c"
    # home= is a path on the remote host: kept as written.
    assert inventory.entry("d").home == "relative/home"


def test_known_hosts_anywhere_in_the_file(tmp_path: Path) -> None:
    inventory = _parse("a\nknown_hosts=/etc/ssh/known  # shared\nb\n", tmp_path)
    assert inventory.known_hosts == "/etc/ssh/known"
    assert list(inventory.hosts) == ["a", "b"]


def test_entry_for_a_host_without_a_line_names_the_file(tmp_path: Path) -> None:
    inventory = _parse("10.0.0.1\n", tmp_path)
    with pytest.raises(ConfigError, match=r"hosts: no line for host 10\.0\.0\.9") as info:
        inventory.entry("10.0.0.9")
    assert str(tmp_path / HOSTS_FILE) in str(info.value)
    assert "add `10.0.0.9 user=" in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "error"),
    [
        ("a password=secret\n", 1, "passwords are not read"),
        ("a\nb user=x password=\n", 2, "passwords are not read"),
        ("a\n\nb colour=red\n", 3, r"'colour=red' is not one of user=…, port=…, key=…"),
        ("a sudo\n", 1, "'sudo' is not one of"),
        ("a user=\n", 1, "'user=' is not one of"),
        ("a User=mq\n", 1, "'User=mq' is not one of"),
        ("a port=0\n", 1, "port=0 is not a TCP port"),
        ("a port=65536\n", 1, "port=65536 is not a TCP port"),
        ("a port=ssh\n", 1, "port=ssh is not a TCP port"),
        ("a port=-22\n", 1, "port=-22 is not a TCP port"),
        ("a port=22.0\n", 1, r"port=22\.0 is not a TCP port"),
        ("# c\na\nb\na user=x\n", 4, "host a is listed twice"),
    ],
)
def test_bad_line_is_refused_with_file_and_line(
    tmp_path: Path, text: str, line: int, error: str
) -> None:
    with pytest.raises(ConfigError, match=error) as info:
        _parse(text, tmp_path)
    assert str(info.value).startswith(f"{tmp_path / HOSTS_FILE}:{line}: ")


def test_highest_port_is_accepted(tmp_path: Path) -> None:
    assert _parse("a port=65535\n", tmp_path).entry("a").port == 65535


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "known_hosts=/k\n"])
def test_file_without_hosts_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="no host lines"):
        _parse(text, tmp_path)


def test_load_inventory_reads_folder_hosts(tmp_path: Path) -> None:
    assert load_inventory(tmp_path) is None  # no hosts file: every process on this machine
    (tmp_path / HOSTS_FILE).write_text("h1 user=u\nh2\n", encoding="utf-8")
    inventory = load_inventory(str(tmp_path))
    assert inventory is not None
    assert list(inventory.hosts) == ["h1", "h2"]
    assert inventory.path == tmp_path / HOSTS_FILE


def test_a_folder_named_hosts_is_no_hosts_file(tmp_path: Path) -> None:
    (tmp_path / HOSTS_FILE).mkdir()
    assert load_inventory(tmp_path) is None


def test_load_inventory_reports_errors_with_the_real_path(tmp_path: Path) -> None:
    (tmp_path / HOSTS_FILE).write_text("h1\nh2 pasword=x\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(tmp_path / HOSTS_FILE))}:2: 'pasword=x'"
    ):
        load_inventory(tmp_path)


def test_non_ascii_digit_port_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a TCP port"):
        _parse("a port=²\n", tmp_path)


def test_empty_known_hosts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / HOSTS_FILE}:1")):
        _parse("known_hosts=\na\n", tmp_path)
