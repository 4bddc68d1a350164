"""GET_ROUTEINFO_BY_TOPIC bodies joined from JSON kept per broker set and per QueueData
value, so that answering builds no objects per broker set of the topic (a topic on 200
broker sets is 200 BrokerData and 200 QueueData: copying and encoding those on every
query was most of a NameServer's CPU, and its garbage kept the collector busy).

The bytes are codec.encode_topic_route's (codec.join_topic_route joins the parts). The
route table calls `forget_broker` whenever a broker set's addresses change and
`drop_broker` when the set goes; QueueData in the table are replaced, never changed,
so their JSON is keyed by value.
"""

from __future__ import annotations

from orbitmq.namesrv import codec
from orbitmq.namesrv.route_data import BrokerData, QueueData

_QueueKey = tuple[int, int, int, int]


class RouteJson:
    def __init__(self) -> None:
        self._brokers: dict[str, bytes] = {}  # broker name -> its BrokerData JSON
        self._queues: dict[str, dict[_QueueKey, bytes]] = {}  # ... -> QueueData JSON by value

    def forget_broker(self, broker_name: str) -> None:
        """The broker set's addresses changed."""
        self._brokers.pop(broker_name, None)

    def drop_broker(self, broker_name: str) -> None:
        """The broker set is gone."""
        self._brokers.pop(broker_name, None)
        self._queues.pop(broker_name, None)

    def route(
        self,
        queues: dict[str, QueueData],
        brokers: dict[str, BrokerData],
        order_topic_conf: str | None,
    ) -> bytes | None:
        """The body for a topic with these `queues`; None when no broker set of them is
        known (RouteTable.pick_topic_route's rules)."""
        names = sorted(queues)
        broker_datas = [self._broker(brokers[name]) for name in names if name in brokers]
        if not broker_datas:
            return None
        queue_datas = [self._queue(queues[name]) for name in names]
        return codec.join_topic_route(broker_datas, queue_datas, order_topic_conf)

    def _broker(self, data: BrokerData) -> bytes:
        encoded = self._brokers.get(data.broker_name)
        if encoded is None:
            encoded = self._brokers[data.broker_name] = codec.broker_data_bytes(data)
        return encoded

    def _queue(self, data: QueueData) -> bytes:
        by_value = self._queues.get(data.broker_name)
        if by_value is None:
            by_value = self._queues[data.broker_name] = {}
        key = (data.read_queue_nums, data.write_queue_nums, data.perm, data.topic_sys_flag)
        encoded = by_value.get(key)
        if encoded is None:
            encoded = by_value[key] = codec.queue_data_bytes(data)
        return encoded
