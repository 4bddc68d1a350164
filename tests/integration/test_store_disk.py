"""Real disks misbehaving under a real broker: a small tmpfs filling up, and a block
device so slow that SYNC_FLUSH cannot confirm in time (FLUSH_DISK_TIMEOUT).

Both need root: the first mounts a 64 MiB tmpfs, the second a loop-mounted ext4 image
with a cgroup v1 blkio write limit on the broker process. They are skipped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, MQBrokerError, Producer, PullConsumer, PullStatus
from orbitmq.client.message import SendStatus
from orbitmq.protocol.codes import ResponseCode
from tests.integration.conftest import Cluster
from tests.processes import broker_properties, start_broker, start_namesrv

pytestmark = pytest.mark.slow

BLKIO = Path("/sys/fs/cgroup/blkio")


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    try:
        _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs (needs root): {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def cluster_on(workdir: Path, store: Path, **overrides: object) -> Iterator[Cluster]:
    namesrv, namesrv_addr = start_namesrv(workdir)
    broker = None
    try:
        props = broker_properties(workdir, namesrv_addr, storePathRootDir=store, **overrides)
        broker = start_broker(workdir, props)
        cluster = Cluster(workdir, namesrv, namesrv_addr, broker, props)
        yield cluster
        broker = cluster.broker
    finally:
        if broker is not None:
            broker.stop()
        namesrv.stop()


async def pull_bodies(cluster: Cluster, topic: str) -> list[bytes]:
    consumer = PullConsumer("CG_DISK_CHECK", cluster.namesrv_addr)
    await consumer.start()
    bodies: list[bytes] = []
    try:
        (mq,) = await consumer.fetch_message_queues(topic)
        offset = 0
        while True:
            result = await consumer.pull(mq, "*", offset, 32)
            if result.status is not PullStatus.FOUND:
                return bodies
            bodies.extend(m.body for m in result.messages)
            offset = result.next_begin_offset
    finally:
        await consumer.shutdown()


def _body(i: int) -> bytes:
    return random.Random(i).randbytes(64 * 1024)  # incompressible: the client zips bodies


@pytest.mark.parametrize(
    "refused_by",
    [
        "ratio",  # diskSpaceWarningLevelRatio (90 %) marks the store DISK_FULL
        "enospc",  # no ratio limit: block reservation itself runs out of space
    ],
)
async def test_full_disk_refuses_sends_and_loses_nothing(tmp_path: Path, refused_by: str) -> None:
    extra = {"diskSpaceWarningLevelRatio": 100} if refused_by == "enospc" else {}
    with (
        tmpfs(tmp_path / "disk", "64m") as disk,
        cluster_on(
            tmp_path,
            disk / "store",
            mapedFileSizeCommitLog=4 * 1024 * 1024,
            maxHashSlotNum=1000,
            maxIndexNum=10_000,
            cleanFileForciblyEnable="false",  # keep everything: check nothing is lost
            **extra,
        ) as cluster,
    ):
        topic = "DiskTopic"
        async with MQAdmin(cluster.namesrv_addr) as admin:
            await admin.create_topic(cluster.broker_addr, topic, 1, 1)
        ballast = disk / "ballast"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        with open(ballast, "wb") as fh:  # leave ~14 MiB to fill by sending
            os.posix_fallocate(fh.fileno(), 0, free - 14 * 1024 * 1024)

        producer = Producer("PG_DISK", cluster.namesrv_addr, retry_times_when_send_failed=0)
        await producer.start()
        acked: list[bytes] = []
        refusal = None
        try:
            for i in range(400):
                try:
                    result = await producer.send(Message(topic, _body(i)))
                except MQBrokerError as exc:
                    refusal = exc
                    break
                assert result.status is SendStatus.SEND_OK
                acked.append(_body(i))
            assert refusal is not None, "the disk never filled up\n" + cluster.broker.tail()
            assert refusal.code == ResponseCode.SERVICE_NOT_AVAILABLE
            assert "disk is full" in refusal.remark
            assert cluster.broker.process.poll() is None  # no SIGBUS
            # ~7 MiB more reach 90 %; the full 14 MiB (less a reservation) run out of blocks.
            assert (80 <= len(acked) < 150) if refused_by == "ratio" else (150 <= len(acked) < 230)

            # Reads keep working, and everything acknowledged is there.
            assert await pull_bodies(cluster, topic) == acked
            async with MQAdmin(cluster.namesrv_addr) as admin:
                info = await admin.get_broker_runtime_info(cluster.broker_addr)
            # DISK_FULL is a state; a failed block reservation only refuses that put.
            assert info["storeWritable"] == ("false" if refused_by == "ratio" else "true")

            # Space comes back: sends are accepted again.
            ballast.unlink()
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                try:
                    await producer.send(Message(topic, _body(1000)))
                    acked.append(_body(1000))
                    break
                except MQBrokerError as exc:
                    assert exc.code == ResponseCode.SERVICE_NOT_AVAILABLE
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.2)
        finally:
            await producer.shutdown()

        # And it all survives a crash.
        cluster.broker.send_signal(signal.SIGKILL)
        cluster.broker.process.wait(5)
        cluster.broker.stop()
        cluster.broker = start_broker(cluster.workdir, cluster.broker_props)
        assert await pull_bodies(cluster, topic) == acked


def _loop_device_store(tmp_path: Path) -> tuple[Path, str]:
    image = tmp_path / "slow.img"
    with open(image, "wb") as fh:
        fh.truncate(96 * 1024 * 1024)
    mount = tmp_path / "slow"
    mount.mkdir()
    try:
        _run("mkfs.ext4", "-q", str(image))
        device = _run("losetup", "-f", "--show", str(image))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a loop device (needs root and losetup): {exc}")
    try:
        _run("mount", device, str(mount))
    except (OSError, subprocess.CalledProcessError) as exc:
        subprocess.run(["losetup", "-d", device], check=False)
        pytest.skip(f"cannot mount a loop device: {exc}")
    return mount, device


async def test_slow_disk_answers_flush_disk_timeout(tmp_path: Path) -> None:
    """SYNC_FLUSH on a disk throttled to 64 KiB/s of writes: the group commit cannot
    confirm within syncFlushTimeout, the producer gets FLUSH_DISK_TIMEOUT (code 10) and
    the message is stored all the same."""
    if not (BLKIO / "cgroup.procs").exists():
        pytest.skip("no cgroup v1 blkio controller to throttle the disk with")
    mount, device = _loop_device_store(tmp_path)
    cgroup = BLKIO / f"orbitmq-slow-disk-{os.getpid()}"
    rdev = os.stat(device).st_rdev
    limit = cgroup / "blkio.throttle.write_bps_device"
    try:
        cgroup.mkdir()
        with cluster_on(
            tmp_path,
            mount / "store",
            flushDiskType="SYNC_FLUSH",
            syncFlushTimeout=300,
            maxHashSlotNum=1000,
            maxIndexNum=10_000,
        ) as cluster:
            topic = "SlowDiskTopic"
            async with MQAdmin(cluster.namesrv_addr) as admin:
                await admin.create_topic(cluster.broker_addr, topic, 1, 1)
            (cgroup / "cgroup.procs").write_text(str(cluster.broker.pid))
            limit.write_text(f"{os.major(rdev)}:{os.minor(rdev)} 65536")
            async with Producer("PG_SLOW", cluster.namesrv_addr) as producer:
                body = os.urandom(256 * 1024)  # four seconds of writing at 64 KiB/s
                started = time.monotonic()
                result = await producer.send(Message(topic, body), timeout=10)
                elapsed = time.monotonic() - started
                if result.status is SendStatus.SEND_OK and elapsed < 0.3:
                    pytest.skip("the blkio limit did not slow fsync down on this kernel")
                assert result.status is SendStatus.FLUSH_DISK_TIMEOUT
                assert elapsed < 2.0  # answered at syncFlushTimeout, not when the disk was done
                limit.write_text(f"{os.major(rdev)}:{os.minor(rdev)} 0")  # full speed again
                assert await pull_bodies(cluster, topic) == [body]
                later = await producer.send(Message(topic, b"fast again"), timeout=10)
                assert later.status is SendStatus.SEND_OK
            async with MQAdmin(cluster.namesrv_addr) as admin:
                info = await admin.get_broker_runtime_info(cluster.broker_addr)
            assert int(info["syncFlushTimeoutTimes"]) >= 1
            assert float(info["commitLogFlushTimeMillsMax"]) >= 300
    finally:
        with contextlib.suppress(OSError):
            limit.write_text(f"{os.major(rdev)}:{os.minor(rdev)} 0")
        subprocess.run(["umount", "-l", str(mount)], check=False)
        subprocess.run(["losetup", "-d", device], check=False)
        with contextlib.suppress(OSError):
            cgroup.rmdir()
