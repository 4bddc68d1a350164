import pytest

from orbitmq.client.consumer.rebalance import allocate_averagely
from orbitmq.client.message import MessageQueue


def queues(n: int, broker: str = "broker-a", topic: str = "T") -> list[MessageQueue]:
    return [MessageQueue(topic, broker, i) for i in range(n)]


def ids(result: list[MessageQueue]) -> list[int]:
    return [mq.queue_id for mq in result]


@pytest.mark.parametrize(
    ("n", "m", "expected"),
    [
        # n queues, m clients -> queue ids owned by client index 0..m-1
        (4, 1, [[0, 1, 2, 3]]),
        (4, 2, [[0, 1], [2, 3]]),
        (4, 3, [[0, 1], [2], [3]]),
        (4, 4, [[0], [1], [2], [3]]),
        (4, 5, [[0], [1], [2], [3], []]),
        (8, 3, [[0, 1, 2], [3, 4, 5], [6, 7]]),
        (5, 3, [[0, 1], [2, 3], [4]]),
        (10, 4, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]),
        (1, 3, [[0], [], []]),
        (3, 2, [[0, 1], [2]]),
        (7, 7, [[0], [1], [2], [3], [4], [5], [6]]),
        (0, 2, [[], []]),
    ],
)
def test_allocate_averagely_table(n: int, m: int, expected: list[list[int]]) -> None:
    cids = [f"client-{i}" for i in range(m)]
    got = [ids(allocate_averagely(queues(n), cids, cid)) for cid in cids]
    assert got == expected


@pytest.mark.parametrize(("n", "m"), [(q, c) for q in range(0, 13) for c in range(1, 7)])
def test_every_queue_owned_exactly_once(n: int, m: int) -> None:
    cids = [f"c{i}" for i in range(m)]
    owned = [mq for cid in cids for mq in allocate_averagely(queues(n), cids, cid)]
    assert sorted(owned) == queues(n)


def test_inputs_are_sorted_first() -> None:
    mqs = queues(2, "broker-b") + queues(2, "broker-a")
    cids = ["z@1", "a@1"]
    assert allocate_averagely(mqs, cids, "a@1") == [
        MessageQueue("T", "broker-a", 0),
        MessageQueue("T", "broker-a", 1),
    ]
    assert allocate_averagely(list(reversed(mqs)), list(reversed(cids)), "z@1") == [
        MessageQueue("T", "broker-b", 0),
        MessageQueue("T", "broker-b", 1),
    ]


def test_client_missing_from_list_gets_nothing() -> None:
    assert allocate_averagely(queues(4), ["a", "b"], "c") == []
