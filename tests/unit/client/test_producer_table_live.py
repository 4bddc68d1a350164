"""MQAdmin.get_all_producer_info (GET_ALL_PRODUCER_INFO, 328) against an in-process broker:
a running producer is listed under its group until it shuts down."""

from __future__ import annotations

import time

from orbitmq.client import Message, MQAdmin, Producer
from orbitmq.client.producer_table import ProducerInfo

from .conftest import Cluster, wait_for
from .test_push_consumer_live import create_topic


async def test_a_running_producer_is_listed_under_its_group(cluster: Cluster) -> None:
    await create_topic(cluster, "ProducerTableTopic", queues=1)
    async with MQAdmin(cluster.namesrv_addr) as admin:
        async with Producer("TablePG", cluster.namesrv_addr) as producer:
            await producer.send(Message("ProducerTableTopic", b"hello"))

            async def listed() -> list[ProducerInfo]:
                table = await admin.get_all_producer_info(cluster.broker_addr())
                return table.get("TablePG", [])

            (info,) = await wait_for(listed)
            assert info.client_id == producer.client_id
            assert info.language == "PYTHON" and info.remote_ip.startswith("/127.0.0.1:")
            assert abs(info.last_update_timestamp - time.time() * 1000) < 60_000
        table = await admin.get_all_producer_info(cluster.broker_addr())
        assert "TablePG" not in table  # unregistered on shutdown
