"""BrokerStats' midnight record (BrokerStats.record(), run at each local midnight): the
msgPut/GetTotal{Today,Yesterday}Morning figures, with a clock the test moves."""

from __future__ import annotations

from datetime import datetime

from orbitmq.broker.broker import BrokerStats


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def set(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


def mornings(stats: BrokerStats) -> tuple[int, int, int, int]:
    return (
        stats.put_total_today_morning,
        stats.get_total_today_morning,
        stats.put_total_yesterday_morning,
        stats.get_total_yesterday_morning,
    )


def test_each_local_midnight_moves_the_morning_totals() -> None:
    clock = Clock(datetime(2024, 6, 10, 15, 0))  # local time, like the broker's
    stats = BrokerStats(wall_clock=clock)
    stats.put_count, stats.get_count = 10, 4
    stats.sample(1.0)
    clock.set(datetime(2024, 6, 10, 23, 59, 59))
    stats.put_count, stats.get_count = 25, 9
    stats.sample(2.0)
    assert mornings(stats) == (0, 0, 0, 0)  # the broker started today: nothing yet

    clock.set(datetime(2024, 6, 11, 0, 0, 0))
    stats.sample(3.0)
    assert mornings(stats) == (25, 9, 0, 0)
    stats.put_count, stats.get_count = 70, 30
    clock.set(datetime(2024, 6, 11, 12, 0))
    stats.sample(4.0)
    assert mornings(stats) == (25, 9, 0, 0)  # once a day only

    clock.set(datetime(2024, 6, 12, 0, 0, 1))
    stats.sample(5.0)
    assert mornings(stats) == (70, 30, 25, 9)
    # Totals keep counting since the start: yesterday's traffic is the difference.
    assert stats.put_total_today_morning - stats.put_total_yesterday_morning == 45


def test_sleeping_over_two_midnights_leaves_no_stale_yesterday() -> None:
    clock = Clock(datetime(2024, 1, 20, 22, 0))
    stats = BrokerStats(wall_clock=clock)
    stats.sample(1.0)
    stats.put_count, stats.get_count = 5, 2
    clock.set(datetime(2024, 1, 21, 0, 0, 2))
    stats.sample(2.0)
    assert mornings(stats) == (5, 2, 0, 0)
    stats.put_count, stats.get_count = 8, 3
    clock.set(datetime(2024, 1, 23, 9, 0))  # the host slept from the 21st to the 23rd
    stats.sample(3.0)
    assert mornings(stats) == (8, 3, 8, 3)


def test_rates_are_still_sampled() -> None:
    stats = BrokerStats(wall_clock=Clock(datetime(2024, 6, 10, 12, 0)))
    stats.sample(10.0)
    stats.put_count, stats.get_count = 30, 12
    stats.sample(12.0)
    assert (stats.put_tps, stats.get_tps) == (15.0, 6.0)
