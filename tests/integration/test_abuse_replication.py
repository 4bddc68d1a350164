"""Random bytes on the replication ports (issue 17): the HA port of a master/slave pair
and the DLedger ports of a Raft group. The bytes cost the sender its connection and
nothing else: replication and sends go on."""

from __future__ import annotations

from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, Producer, SendStatus
from tests.integration.dledger_set import running_set, wait_master
from tests.integration.test_abuse import _random_bytes
from tests.integration.test_replication import BrokerSet, assert_slave_mirrors_master, send
from tests.processes import start_namesrv

pytestmark = pytest.mark.slow


async def test_random_bytes_on_the_ha_port(tmp_path: Path) -> None:
    namesrv, namesrv_addr = start_namesrv(tmp_path)
    brokers = BrokerSet(tmp_path, namesrv, namesrv_addr)
    try:
        brokers.start_master()
        brokers.start_slave()
        assert set(await send(namesrv_addr, 20, "before")) == {SendStatus.SEND_OK}
        assert brokers.master_props is not None
        await _random_bytes(f"127.0.0.1:{int(str(brokers.master_props['listenPort'])) + 1}")
        assert set(await send(namesrv_addr, 20, "after")) == {SendStatus.SEND_OK}
        assert await assert_slave_mirrors_master(brokers) >= 40
        assert brokers.master is not None and brokers.master.process.poll() is None
    finally:
        brokers.stop()


async def test_random_bytes_on_the_dledger_ports(tmp_path: Path) -> None:
    with running_set(tmp_path, {"dLegerMinPeers": 3}) as (_namesrv, namesrv_addr, dset):
        admin = MQAdmin(namesrv_addr)
        producer = Producer("PG_ABUSE_RAFT", namesrv_addr, send_timeout=5.0)
        try:
            await wait_master(admin, dset, 30)
            await producer.start()
            for member in dset.members:
                for peer in str(member.properties["dLegerPeers"]).split(";"):
                    if peer.startswith(f"{member.self_id}-"):
                        await _random_bytes(peer.split("-", 1)[1], connections=10)
            assert all(m.alive for m in dset.members)
            for i in range(20):
                result = await producer.send(Message("AbuseRaft", f"m{i}".encode()))
                assert result.status is SendStatus.SEND_OK
        finally:
            await producer.shutdown()
            await admin.shutdown()
