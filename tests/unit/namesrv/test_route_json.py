"""Route answers joined from kept JSON (route_json.py) are byte for byte what encoding
`pick_topic_route` gives, whatever happened to the table before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orbitmq.namesrv import codec
from orbitmq.namesrv.route_data import DataVersion, RegisterBrokerBody, TopicConfig
from orbitmq.namesrv.route_table import RouteTable

T0 = 1_700_000_000_000
TOPICS = ["A", "B", "C"]
BROKERS = ["broker-a", "broker-b"]
ADDRS = ["10.0.0.1:10911", "10.0.0.2:10911", "10.0.0.3:10911"]

register_op = st.tuples(
    st.just("register"),
    st.sampled_from(BROKERS),
    st.sampled_from(ADDRS),
    st.sampled_from([0, 1]),
    st.integers(1, 3),  # DataVersion counter
    st.lists(st.sampled_from(TOPICS), unique=True),
    st.sampled_from([4, 8]),  # queues
)
other_op = st.one_of(
    st.tuples(st.just("unregister"), st.sampled_from(BROKERS), st.sampled_from(ADDRS)),
    st.tuples(st.just("close"), st.sampled_from(ADDRS)),
    st.tuples(st.just("wipe"), st.sampled_from(BROKERS)),
    st.tuples(st.just("add"), st.sampled_from(BROKERS)),
    st.tuples(st.just("delete"), st.sampled_from(TOPICS)),
)


def apply(table: RouteTable, op: tuple[object, ...]) -> None:
    match op:
        case ("register", name, addr, broker_id, counter, topics, queues):
            configs = {t: TopicConfig(t, queues, queues, 6) for t in topics}  # type: ignore[union-attr]
            body = RegisterBrokerBody(DataVersion(T0, counter), configs)  # type: ignore[arg-type]
            table.register_broker("c", addr, name, broker_id, "h:1", body, T0, addr)  # type: ignore[arg-type]
        case ("unregister", name, addr):
            for broker_id in (0, 1):
                table.unregister_broker("c", addr, name, broker_id)  # type: ignore[arg-type]
        case ("close", addr):
            table.on_connection_closed(addr)
        case ("wipe", name):
            table.wipe_write_perm(name)  # type: ignore[arg-type]
        case ("add", name):
            table.add_write_perm(name)  # type: ignore[arg-type]
        case ("delete", topic):
            table.delete_topic(topic)  # type: ignore[arg-type]


def expected(table: RouteTable, topic: str, order_conf: str | None) -> bytes | None:
    route = table.pick_topic_route(topic)
    if route is None:
        return None
    route.order_topic_conf = order_conf
    return codec.encode_topic_route(route)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(register_op, other_op), max_size=25))
def test_joined_route_is_the_encoded_route(ops: list[tuple[object, ...]]) -> None:
    table = RouteTable()
    for op in ops:
        apply(table, op)
        for topic in TOPICS:
            assert table.topic_route_json(topic) == expected(table, topic, None)
    for topic in TOPICS:
        assert table.topic_route_json(topic, "broker-a:4") == expected(table, topic, "broker-a:4")
