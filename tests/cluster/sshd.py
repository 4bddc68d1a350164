"""A real OpenSSH server inside each namespace host, for `orbitmq cluster` over ssh.

`ssh_lan_hosts(lan, count)` adds hosts to a `VirtualLan` and starts Debian's
`/usr/sbin/sshd` in each (`scripts/setup.sh --test` installs it). The test process,
in the root namespace, then reaches every host at `ADDRESS:22` like a remote machine:

  - one client key pair (ed25519) per LAN, its public half in an `authorized_keys`
    file that every host's sshd is pointed at (`AuthorizedKeysFile` with an absolute
    path), so the test user logs in with that key only (no password, no PAM);
  - one host key per host, and a `known_hosts` file listing `ADDRESS ssh-ed25519 AAAA…`
    for each, so clients verify host keys for real instead of turning checks off;
  - `hosts_file_text()` renders OrbitMQ's hosts file (ARCHITECTURE.md §3) for them:

        ADDRESS [user=NAME] [port=22] [key=PATH] [home=PATH] [python=PATH]
        known_hosts=PATH

Choices worth knowing:

  - `StrictModes no`: every file lives under pytest's tmp directory, i.e. under the
    world-writable /tmp, and sshd with StrictModes on refuses an authorized_keys file
    whose directory chain is group- or world-writable.
  - `python=` is the real base interpreter of the running venv (`sys._base_executable`
    with symlinks resolved): a remote command runs in a fresh login environment whose
    PATH has no pyenv shims, and a shim or a venv symlink is not a usable interpreter
    path there.
  - `/run/sshd` (sshd's privilege separation directory) is created when missing; Debian
    makes it only when the ssh service starts, which never happens in a container.
  - The hosts share the machine's filesystem (only the network is per host), so each
    host gets its own `home=` under its workdir (`host.workdir/"orbitmq"`, not created
    here: deploying to a host is what should create it).
  - sshd runs in the foreground (`-D`) logging to stderr (`-e`), started with
    `host.start`, so `VirtualLan.destroy()` stops it and kills its session processes;
    its log is in `SshServer.process.tail()`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.netns import Host, VirtualLan
from tests.processes import ServerProcess

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
PRIVSEP_DIR = Path("/run/sshd")
BOOT_MARKER = "Server listening"
_TOOL_TIMEOUT = 30.0


class SshdError(RuntimeError):
    """ssh-keygen or `sshd -t` failed."""


def sshd_unavailable_reason() -> str | None:
    """Why an sshd cannot be run here, or None if it can."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is missing (scripts/setup.sh --test installs openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is missing (scripts/setup.sh --test installs openssh-client)"
    return None


def _run(argv: list[str]) -> str:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=_TOOL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        output = (done.stderr + done.stdout).strip()
        raise SshdError(f"{' '.join(argv)}: exit {done.returncode}: {output}")
    return done.stdout


def keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair at `path` and `path.pub` (kept if already there).

    Returns:
        The public key line, `ssh-ed25519 AAAA… comment`.
    """
    public = path.with_name(path.name + ".pub")
    if not (path.exists() and public.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        public.unlink(missing_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return public.read_text().strip()


def current_user() -> str:
    """The name of the user the tests run as (the one sshd lets in)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def base_python() -> str:
    """The real interpreter behind the running venv (see the module docstring)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@dataclass(frozen=True)
class SshKeys:
    """The LAN's client key pair and the files every host's sshd and client share."""

    directory: Path
    private_key: Path  # the client's private key (`key=` in the hosts file)
    public_key: str  # `ssh-ed25519 AAAA… comment`
    authorized_keys: Path  # holds `public_key`; every sshd's AuthorizedKeysFile

    @property
    def known_hosts(self) -> Path:
        """Where `write_known_hosts` puts the LAN's host keys by default."""
        return self.directory / "known_hosts"


def make_client_keys(directory: Path) -> SshKeys:
    """The client key pair under `directory` (created once; reused by later calls)."""
    private_key = directory / "id_ed25519"
    public_key = keygen(private_key, f"{current_user()}@orbitmq-tests")
    authorized_keys = directory / "authorized_keys"
    authorized_keys.write_text(public_key + "\n")
    return SshKeys(directory, private_key, public_key, authorized_keys)


@dataclass
class SshServer:
    """An sshd running inside one namespace host."""

    host: Host
    process: ServerProcess
    keys: SshKeys
    config: Path
    host_key: Path  # private; its public line is `host_public_key`
    host_public_key: str  # `ssh-ed25519 AAAA… comment`
    home: Path  # `home=` for this host in the hosts file

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def port(self) -> int:
        return SSH_PORT

    @property
    def known_hosts_line(self) -> str:
        """`ADDRESS ssh-ed25519 AAAA…` (the comment dropped)."""
        kind, blob = self.host_public_key.split()[:2]
        return f"{self.address} {kind} {blob}"


def sshd_config(host: Host, keys: SshKeys, host_key: Path, workdir: Path) -> str:
    """The text of an sshd_config for `host` (see the module docstring)."""
    lines = [
        f"ListenAddress {host.address}",
        f"Port {SSH_PORT}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {keys.authorized_keys.resolve()}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        f"PidFile {workdir / 'sshd.pid'}",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "MaxStartups 100",
        "MaxSessions 100",
        "PrintMotd no",
        "UseDNS no",
    ]
    return "".join(line + "\n" for line in lines)


def start_sshd(host: Host, keys: SshKeys, workdir: Path | None = None) -> SshServer:
    """Start sshd inside `host` on `host.address:22` and wait until it listens.

    `workdir` (default `host.workdir/"sshd"`) receives its host key, config and pid file.

    Raises:
        SshdError: ssh-keygen failed or `sshd -t` rejected the config.
        AssertionError: sshd did not boot (with its log).
    """
    workdir = (workdir or host.workdir / "sshd").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    host_key = workdir / "ssh_host_ed25519_key"
    host_public_key = keygen(host_key, f"root@host{host.index}")
    config = workdir / "sshd_config"
    config.write_text(sshd_config(host, keys, host_key, workdir))
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    _run([SSHD, "-t", "-f", str(config)])
    process = host.start([SSHD, "-D", "-e", "-f", str(config)], BOOT_MARKER, "sshd")
    process.wait_booted()
    home = host.workdir.resolve() / "orbitmq"
    return SshServer(host, process, keys, config, host_key, host_public_key, home)


def write_known_hosts(path: Path, servers: Iterable[SshServer]) -> Path:
    """Put one `ADDRESS ssh-ed25519 AAAA…` line per server in `path`.

    Lines already there for other addresses are kept (so a LAN can grow); a line for
    the same address is replaced. Returns `path`.
    """
    entries: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entries[line.split()[0]] = line
    for server in servers:
        entries[server.address] = server.known_hosts_line
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in entries.values()))
    return path


def hosts_file_line(server: SshServer, user: str | None = None, python: str | None = None) -> str:
    """`ADDRESS user=… port=22 key=… home=… python=…` for one server."""
    return (
        f"{server.address} user={user or current_user()} port={server.port}"
        f" key={server.keys.private_key.resolve()} home={server.home}"
        f" python={python or base_python()}"
    )


def hosts_file_text(
    servers: Iterable[SshServer],
    known_hosts: Path | None = None,
    user: str | None = None,
    python: str | None = None,
) -> str:
    """OrbitMQ's hosts file for `servers`: a comment, one line per host, then
    `known_hosts=PATH` (default: the first server's `keys.known_hosts`)."""
    servers = list(servers)
    lines = ["# OrbitMQ test hosts: one sshd per network namespace (tests/cluster/sshd.py)"]
    lines += [hosts_file_line(server, user, python) for server in servers]
    if known_hosts is None and servers:
        known_hosts = servers[0].keys.known_hosts
    if known_hosts is not None:
        lines.append(f"known_hosts={known_hosts.resolve()}")
    return "".join(line + "\n" for line in lines)


def ssh_lan_hosts(lan: VirtualLan, count: int, workdir: Path | None = None) -> list[SshServer]:
    """Add `count` hosts to `lan`, each running sshd, and (re)write the known_hosts file.

    The client keys and known_hosts live in `workdir` (default `lan.workdir/"ssh"`),
    shared by every call on the same LAN; `servers[0].keys` has their paths.
    """
    keys = make_client_keys((workdir or lan.workdir / "ssh").resolve())
    servers = [start_sshd(lan.add_host(), keys) for _ in range(count)]
    write_known_hosts(keys.known_hosts, servers)
    return servers
