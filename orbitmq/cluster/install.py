"""`orbitmq cluster install`: the same OrbitMQ build on every host, with no internet there.

Here: a wheelhouse (OrbitMQ's wheel, built from this source checkout, plus a wheel of
every dependency, from the package index or pip's cache). On each host, all at once:
the wheels are copied over ssh (SFTP) into HOME/wheels, a virtualenv HOME/venv is made
with the host's `python`, and pip installs from HOME/wheels alone (--no-index). The
wheel's sha256 is kept in HOME/venv, so a host already on this build is left as it is.

The wheel holds modules compiled for this machine's Python and architecture when
setup.py compiled them: hosts need the same Python minor version (checked first).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import orbitmq
from orbitmq.cluster.agent import INSTALLED_WHEEL
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.fleet import Echo
from orbitmq.cluster.remote import SshLink, shell_path
from orbitmq.cluster.template import ClusterPlan

__all__ = ["build_wheelhouse", "install_cluster"]

_PIP_TIMEOUT = 600.0
_REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold
_HOST_TIMEOUT = 900.0


def _source_root() -> Path:
    """The source checkout this OrbitMQ runs from.

    Raises:
        ClusterError: it runs from an installed wheel (give --wheelhouse then).
    """
    root = Path(orbitmq.__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "orbitmq"' not in pyproject.read_text():
        raise ClusterError(
            f"OrbitMQ runs from {root}, not from a source checkout: build the wheels "
            "elsewhere (pip wheel -w DIR .) and pass --wheelhouse DIR"
        )
    return root


def _pip(args: list[str], what: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=_PIP_TIMEOUT,
        check=False,
        # One timestamp for every file of the wheel: the same source makes the same wheel
        # (and sha256), so hosts already on it are left alone.
        env={**os.environ, "SOURCE_DATE_EPOCH": _REPRODUCIBLE_EPOCH},
    )
    if done.returncode != 0:
        raise ClusterError(f"{what} failed: {(done.stderr or done.stdout).strip()[-2000:]}")


def _orbitmq_wheel(wheelhouse: Path) -> Path:
    wheels = sorted(wheelhouse.glob("orbitmq-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ClusterError(f"{wheelhouse} holds no orbitmq-*.whl")
    return wheels[-1]


def build_wheelhouse(target: Path, echo: Echo) -> Path:
    """OrbitMQ's wheel from the source checkout plus its dependencies' wheels in
    `target`; the OrbitMQ wheel's path.

    Raises:
        ClusterError: not a source checkout, or pip failed (no index and no cache?).
    """
    root = _source_root()
    began = time.monotonic()
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("orbitmq-*.whl"):
        old.unlink()
    # The build tools already here spare pip an isolated build environment (and setup.py
    # reuses the modules scripts/setup.sh compiled in place).
    in_place = all(importlib.util.find_spec(m) for m in ("Cython", "wheel", "setuptools"))
    isolation = ["--no-build-isolation"] if in_place else []
    _pip(
        ["wheel", "-q", "--no-deps", *isolation, "-w", str(target), str(root)],
        "building OrbitMQ's wheel",
    )
    wheel = _orbitmq_wheel(target)
    _pip(["wheel", "-q", "-w", str(target), str(wheel)], "collecting the dependencies' wheels")
    wheels = list(target.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 1e6
    echo(
        f"built {wheel.name} and {len(wheels) - 1} dependency wheels ({size:.0f} MB) in "
        f"{target} in {time.monotonic() - began:.1f} s"
    )
    return wheel


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _wheel_python(wheel: Path) -> str | None:
    """ "3.11" for a cp311 wheel; None for a pure one (py3)."""
    tag = wheel.name.split("-")[2]
    if tag.startswith("cp") and tag[2:].isdigit():
        return f"{tag[2]}.{tag[3:]}"
    return None


async def _install_host(
    link: SshLink, home: str, wheels: list[Path], wheel: Path, sha: str, echo: Echo
) -> None:
    host = link.host
    began = time.monotonic()
    try:
        hello = await link.call({"op": "hello", "home": home}, 60.0)
    except ClusterError:
        hello = None  # nothing installed yet, or a broken install: install over it
    if hello is not None and hello.get("wheel_sha256") == sha:
        echo(f"{host}: already on {wheel.name} ({sha[:12]}) in {home}/venv")
        return
    python = shell_path(link.entry.python)
    status, out, err = await link.run(
        f"{python} -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'", 60.0
    )
    if status != 0:
        raise ClusterError(f"{host}: {link.entry.python} does not run: {err.strip()[-300:]}")
    wanted = _wheel_python(wheel)
    if wanted is not None and out.strip() != wanted:
        raise ClusterError(
            f"{host}: {link.entry.python} is Python {out.strip()}, but {wheel.name} was built "
            f"for Python {wanted}; set python= in the hosts file to a {wanted} interpreter"
        )
    echo(f"{host}: copying {len(wheels)} wheels to {home}/wheels")
    await link.put(wheels, f"{home}/wheels", _HOST_TIMEOUT)
    venv, wheels_dir = shell_path(f"{home}/venv"), shell_path(f"{home}/wheels")
    pip = f"{venv}/bin/python -m pip -q --disable-pip-version-check"
    target = f"{wheels_dir}/{wheel.name}"
    script = " && ".join(
        [
            f"mkdir -p {shell_path(home)}",
            f"{{ test -x {venv}/bin/python || {python} -m venv {venv}; }}",
            f"{pip} install --no-index --find-links {wheels_dir} {target}",
            # Same version number, new build: replace OrbitMQ itself, keep the rest.
            f"{pip} install --no-index --no-deps --force-reinstall {target}",
            f"echo {sha} > {shell_path(f'{home}/{INSTALLED_WHEEL}')}",
        ]
    )
    echo(f"{host}: installing into {home}/venv")
    status, out, err = await link.run(script, _HOST_TIMEOUT)
    if status != 0:
        raise ClusterError(
            f"{host}: installing failed (exit {status}): {(err or out).strip()[-1500:]}"
        )
    hello = await link.call({"op": "hello", "home": home}, 60.0)
    echo(
        f"{host}: installed OrbitMQ {hello['version']} ({sha[:12]}) on Python {hello['python']} "
        f"in {time.monotonic() - began:.1f} s"
    )


def install_cluster(
    plan: ClusterPlan, echo: Echo, connect_timeout: float, wheelhouse: str | None = None
) -> list[str]:
    """Install on every host of the plan's hosts file; the hosts where it failed."""
    if wheelhouse is not None:
        house = Path(wheelhouse)
        wheel = _orbitmq_wheel(house)
    else:
        house = plan.home / "wheelhouse"
        wheel = build_wheelhouse(house, echo)
    wheels = sorted(house.glob("*.whl"))
    sha = _sha256(wheel)
    inventory = plan.inventory
    assert inventory is not None
    hosts = [h for h in plan.hosts() if h]

    async def run() -> list[str]:
        links = [SshLink(inventory.entry(h), inventory.known_hosts, connect_timeout) for h in hosts]
        try:
            outcomes = await asyncio.gather(
                *(
                    _install_host(link, plan.home_of(link.host), wheels, wheel, sha, echo)
                    for link in links
                ),
                return_exceptions=True,
            )
        finally:
            await asyncio.gather(*(link.close() for link in links))
        failed = []
        for host, outcome in zip(hosts, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, ClusterError):
                    raise outcome
                echo(f"{host}: FAILED: {outcome}")
                failed.append(host)
        return failed

    failed = asyncio.run(run())
    echo(f"installed on {len(hosts) - len(failed)} of {len(hosts)} hosts")
    return failed
