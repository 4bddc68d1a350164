"""Several hosts on one machine: Linux network namespaces joined by a virtual switch.

Theory of operation (ARCHITECTURE.md §5): each host is a network namespace with its own
loopback and one interface `eth0` holding 10.77.<X>.<n>/24. Its veth peer sits in a
switch namespace, enslaved to a bridge. The test process stays in the root namespace and
joins the same bridge through one more veth pair holding 10.77.<X>.100, so clients in the
test talk to the hosts' addresses directly and nothing else is reachable.

  root ns  [omq<pid>c<k>] 10.77.X.100 ──┐
  host1    [eth0] 10.77.X.1 ── p1 ──┐   │
  host2    [eth0] 10.77.X.2 ── p2 ──┼── br0 (switch ns)
  ...                                     ...

Processes start inside a host with `ip netns exec NS python -m orbitmq …` (ip execs
in place, so the child's pid is the server's). Faults are real: `cut(host)` sets the
host's switch port down (the host sees NO-CARRIER, its packets and packets to it are
dropped, TCP peers just time out), `drop_inbound(host, source)` makes the host's own
firewall drop what comes from one address (a one-way partition: iptables in the host's
namespace, whose rules go with it), `kill_host(host)` SIGKILLs everything running there.

`destroy()` kills what runs inside, deletes every namespace (which takes their veths
with them, the root end included) and then checks nothing is left; it is safe to call on
a half-built LAN. Namespace names carry the creating pid (`omq<pid>-<k>-…`), and a new
LAN deletes empty namespaces left by a dead creator.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import ServerProcess

PREFIX = "omq"
CLIENT_HOST = 100
_IP_TIMEOUT = 10.0
_lan_counter = itertools.count()


class NetnsError(RuntimeError):
    """An `ip` command failed."""


def ip(*args: str, check: bool = True) -> str:
    """Run `ip ARGS…`; return stdout.

    Raises:
        NetnsError: it exited non-zero (with its stderr) and `check` is set.
    """
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None if they can (tries one for real)."""
    if sys.platform != "linux":
        return f"network namespaces need Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
    except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        ip("netns", "del", probe)
    except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot delete a network namespace: {exc}"
    return None


def iptables(netns: str, *args: str) -> None:
    """Run `iptables -w ARGS…` inside `netns`.

    Raises:
        NetnsError: iptables is missing or exited non-zero.
    """
    if shutil.which("iptables") is None:
        raise NetnsError("iptables is not installed (scripts/setup.sh --test installs it)")
    command = ["ip", "netns", "exec", netns, "iptables", "-w", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=_IP_TIMEOUT, check=False)
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(command)}: exit {done.returncode}: {done.stderr.strip()}")


def namespaces() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def pids_in(netns: str) -> list[int]:
    return [int(p) for p in ip("netns", "pids", netns, check=False).split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Delete empty namespaces of ours whose creating process is gone (a killed run)."""
    for name in namespaces():
        match = re.fullmatch(rf"{PREFIX}(\d+)-.*", name)
        if match and not _alive(int(match.group(1))) and not pids_in(name):
            ip("netns", "del", name, check=False)


def _free_subnet() -> int:
    """A third octet X such that 10.77.X.0/24 appears nowhere in the root namespace."""
    used = ip("-4", "route", "show", "table", "all") + ip("-4", "addr", "show")
    candidates = [x for x in range(1, 255) if f"10.77.{x}." not in used]
    if not candidates:
        raise NetnsError("every 10.77.X.0/24 subnet is in use")
    return random.choice(candidates)


@dataclass
class Host:
    """One namespace playing a machine."""

    index: int
    netns: str
    address: str
    switch_port: str  # its veth end inside the switch namespace
    workdir: Path
    processes: list[ServerProcess] = field(default_factory=list)

    def start(self, argv: list[str], boot_marker: str, name: str) -> ServerProcess:
        """Start `argv` inside this host; does not wait for it to boot."""
        process = ServerProcess(
            ["ip", "netns", "exec", self.netns, *argv], boot_marker, f"host{self.index}:{name}"
        )
        self.processes.append(process)
        return process


class VirtualLan:
    """Hosts on a private /24 behind one bridge; see the module docstring."""

    def __init__(self, workdir: Path) -> None:
        number = next(_lan_counter)
        self.workdir = workdir
        self.tag = f"{PREFIX}{os.getpid()}-{number}"
        self.switch = f"{self.tag}-sw"
        self.client_if = f"{PREFIX}{os.getpid()}c{number}"  # root namespace: <= 15 chars
        self.octet = 0
        self.hosts: list[Host] = []
        self._namespaces: list[str] = []

    def build(self) -> None:
        """Create the switch and the test process's port (call `destroy()` even if this
        fails half-way)."""
        sweep_stale()
        self.octet = _free_subnet()
        self._add_namespace(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        # The test process joins the switch too.
        ip(
            "link",
            "add",
            self.client_if,
            "type",
            "veth",
            "peer",
            "name",
            "pc",
            "netns",
            self.switch,
        )
        ip("-n", self.switch, "link", "set", "pc", "master", "br0", "up")
        ip("addr", "add", f"{self.address(CLIENT_HOST)}/24", "dev", self.client_if)
        ip("link", "set", self.client_if, "up")

    def address(self, host: int) -> str:
        return f"10.77.{self.octet}.{host}"

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def add_host(self) -> Host:
        """A new namespace with `eth0` on the switch and loopback up."""
        index = len(self.hosts) + 1
        netns = f"{self.tag}-h{index}"
        port = f"p{index}"
        self._add_namespace(netns)
        veth = ["eth0", "netns", netns, "type", "veth", "peer", "name", port]
        ip("link", "add", *veth, "netns", self.switch)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        address = self.address(index)
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        workdir = self.workdir / f"host{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        host = Host(index, netns, address, port, workdir)
        self.hosts.append(host)
        return host

    # Faults ------------------------------------------------------------------------------
    def cut(self, host: Host) -> None:
        """Pull the host's cable: its switch port goes down."""
        ip("-n", self.switch, "link", "set", host.switch_port, "down")

    def restore(self, host: Host) -> None:
        ip("-n", self.switch, "link", "set", host.switch_port, "up")

    def drop_inbound(self, host: Host, source: str) -> None:
        """One-way partition: `host` drops every packet from the address `source`, while
        what it sends to `source` still arrives (so TCP streams from `host` to `source`
        stall too once they wait for `source`'s ACKs)."""
        iptables(host.netns, "-A", "INPUT", "-s", source, "-j", "DROP")

    def clear_drops(self, host: Host) -> None:
        """Undo every `drop_inbound` of `host`."""
        iptables(host.netns, "-F", "INPUT")

    def link_up(self, host: Host) -> bool:
        out = ip("-n", self.switch, "-o", "link", "show", host.switch_port)
        return "state UP" in out or ",UP" in out.split(">")[0]

    def kill_host(self, host: Host) -> None:
        """SIGKILL every process running on the host (a power cut, for its processes)."""
        for process in host.processes:
            process.kill()
        for pid in pids_in(host.netns):
            _kill(pid)

    # Teardown ----------------------------------------------------------------------------
    def destroy(self) -> None:
        """Stop every process, delete every namespace and veth; then check none is left.

        Raises:
            NetnsError: something could not be removed.
        """
        for host in self.hosts:
            for process in host.processes:
                try:
                    process.stop(timeout=5)
                except Exception:  # keep tearing down; leftovers are checked below
                    _kill(process.pid)
        for name in reversed(self._namespaces):
            for pid in pids_in(name):
                _kill(pid)
            ip("netns", "del", name, check=False)
        ip("link", "del", self.client_if, check=False)
        left = [n for n in namespaces() if n in self._namespaces]
        links = ip("-o", "link", "show")
        if left or f" {self.client_if}@" in links or f" {self.client_if}:" in links:
            raise NetnsError(f"teardown left namespaces {left} or link {self.client_if}")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
