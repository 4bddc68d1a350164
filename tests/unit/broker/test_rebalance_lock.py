"""RebalanceLockManager: pure, time given as an argument."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orbitmq.broker.rebalance_lock import RebalanceLockManager

G = "G"
Q0, Q1, Q2 = ("T", "b", 0), ("T", "b", 1), ("T", "b", 2)
MEMBERS = ["A", "B"]


def test_free_queues_are_granted_and_renewals_keep_them() -> None:
    locks: RebalanceLockManager[tuple[str, str, int]] = RebalanceLockManager(60)
    assert locks.try_lock_batch(G, [Q0, Q1], "A", 0.0, MEMBERS) == [Q0, Q1]
    assert locks.try_lock_batch(G, [Q0, Q1, Q2], "B", 10.0, MEMBERS) == [Q2]
    assert locks.try_lock_batch(G, [Q0], "A", 50.0, MEMBERS) == [Q0]  # renewal at 50
    assert locks.owner(G, Q0, 100.0) == "A"  # 50 s after the renewal: still A's
    assert locks.owner(G, Q1, 100.0) is None  # not renewed since 0: expired


def test_an_expired_lock_goes_to_the_next_asker() -> None:
    locks: RebalanceLockManager[tuple[str, str, int]] = RebalanceLockManager(60)
    locks.try_lock_batch(G, [Q0], "A", 0.0, MEMBERS)
    assert locks.try_lock_batch(G, [Q0], "B", 60.0, MEMBERS) == []  # exactly 60 s: alive
    assert locks.try_lock_batch(G, [Q0], "B", 60.5, MEMBERS) == [Q0]
    assert locks.is_locked(G, Q0, "B", 61.0)
    assert not locks.is_locked(G, Q0, "A", 61.0)


def test_unlock_releases_only_the_callers_queues() -> None:
    locks: RebalanceLockManager[tuple[str, str, int]] = RebalanceLockManager(60)
    locks.try_lock_batch(G, [Q0], "A", 0.0, MEMBERS)
    locks.try_lock_batch(G, [Q1], "B", 0.0, MEMBERS)
    assert locks.unlock_batch(G, [Q0, Q1], "A") == [Q0]
    assert locks.owner(G, Q1, 1.0) == "B"
    assert locks.try_lock_batch(G, [Q0], "B", 1.0, MEMBERS) == [Q0]
    assert locks.unlock_batch("other", [Q0], "B") == []


def test_non_members_get_nothing_not_even_a_renewal() -> None:
    locks: RebalanceLockManager[tuple[str, str, int]] = RebalanceLockManager(60)
    assert locks.try_lock_batch(G, [Q0], "X", 0.0, MEMBERS) == []
    assert locks.owner(G, Q0, 0.0) is None
    locks.try_lock_batch(G, [Q0], "A", 0.0, MEMBERS)
    # A left the group: its lock lives on until it expires, but it cannot renew it.
    assert locks.try_lock_batch(G, [Q0], "A", 30.0, ["B"]) == []
    assert locks.try_lock_batch(G, [Q0], "B", 30.0, ["B"]) == []
    assert locks.try_lock_batch(G, [Q0], "B", 61.0, ["B"]) == [Q0]
    # Without a member list (a caller that does not check), anyone may lock.
    assert locks.try_lock_batch(G, [Q1], "X", 0.0) == [Q1]


def test_groups_are_independent_and_expired_locks_are_purged() -> None:
    locks: RebalanceLockManager[tuple[str, str, int]] = RebalanceLockManager(60)
    locks.try_lock_batch("G1", [Q0], "A", 0.0)
    assert locks.try_lock_batch("G2", [Q0], "B", 0.0) == [Q0]
    assert not locks.is_lock_all_expired("G1", 10.0)
    assert locks.is_lock_all_expired("G1", 61.0)
    assert locks.purge_expired(61.0) == 2
    assert locks.owner("G1", Q0, 61.0) is None
    assert locks.is_lock_all_expired("nobody", 0.0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["lock", "unlock"]),
            st.sampled_from(["A", "B", "C"]),
            st.lists(st.integers(0, 3), max_size=4),
            st.floats(0, 40),
        ),
        max_size=40,
    )
)
def test_a_queue_never_has_two_live_owners(ops: list[tuple[str, str, list[int], float]]) -> None:
    """Model check: whatever the interleaving, the granted answers agree with a single
    owner per queue, and a live lock is never granted to somebody else."""
    locks: RebalanceLockManager[int] = RebalanceLockManager(60)
    now = 0.0
    owner: dict[int, tuple[str, float]] = {}  # queue -> (client, last update)
    for op, client, queues, step in ops:
        now += step
        if op == "lock":
            granted = locks.try_lock_batch(G, queues, client, now, ["A", "B", "C"])
            for queue in set(queues):
                held = owner.get(queue)
                free = held is None or held[0] == client or now - held[1] > 60
                assert (queue in granted) == free
                if free:
                    owner[queue] = (client, now)
        else:
            locks.unlock_batch(G, queues, client)
            for queue in queues:
                if queue in owner and owner[queue][0] == client:
                    del owner[queue]
        for queue in range(4):
            held = owner.get(queue)
            expected = held[0] if held is not None and now - held[1] <= 60 else None
            assert locks.owner(G, queue, now) == expected
