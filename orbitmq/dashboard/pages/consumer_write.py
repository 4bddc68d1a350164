"""Changes to a subscription group from the console, each reported per broker:
create/update (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on each chosen master) and delete
(DELETE_SUBSCRIPTIONGROUP with its offsets removed, optionally its %RETRY%/%DLQ% topics;
those leave every NameServer too once no master has the group any more)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console
from orbitmq.protocol.topics import dlq_topic, retry_topic


@dataclass(slots=True)
class Outcome:
    """Which brokers took a change and which did not (and why)."""

    done: list[str] = field(default_factory=list)
    failures: list[BrokerFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def messages(self, what: str) -> list[tuple[str, str]]:
        """(flash kind, text) lines saying where `what` happened and where it did not."""
        lines = []
        if self.done:
            lines.append(("ok", f"{what} on {', '.join(sorted(self.done))}."))
        lines += [("ok", note) for note in self.notes]
        if self.failures:
            failed = "; ".join(str(f) for f in self.failures)
            lines.append(("error", f"Failed on {failed}"))
        return lines


async def save_group(
    console: Console, config: dict[str, Any], masters: list[tuple[str, str]]
) -> Outcome:
    async def one(addr: str) -> None:
        await console.admin.create_subscription_group(addr, config)

    answers, failures = await console.each(masters, one)
    return Outcome([name for name, addr in masters if addr in answers], failures)


async def delete_group(
    console: Console, group: str, masters: list[tuple[str, str]], with_topics: bool
) -> Outcome:
    topics = (retry_topic(group), dlq_topic(group)) if with_topics else ()

    async def one(addr: str) -> None:
        await console.admin.delete_subscription_group(addr, group, remove_offset=True)
        for topic in topics:
            await console.admin.delete_topic_in_broker(addr, topic)

    answers, failures = await console.each(masters, one)
    outcome = Outcome([name for name, addr in masters if addr in answers], failures)
    if topics and not failures:
        await _forget_routes(console, group, topics, outcome)
    return outcome


async def _forget_routes(
    console: Console, group: str, topics: tuple[str, ...], outcome: Outcome
) -> None:
    """DELETE_TOPIC_IN_NAMESRV for the group's topics once no master answers with a
    config of the group (a broker that did not answer might still have it)."""
    try:
        masters = await console.masters()
    except CALL_ERRORS as exc:
        outcome.failures.append(console.namesrv_failure(exc))
        return
    answers, failures = await console.each(masters, console.admin.get_all_subscription_group)
    still = sorted(name for name, addr in masters if group in answers.get(addr, {}))
    if failures or still:
        where = ", ".join(still) or "brokers that did not answer"
        outcome.notes.append(
            f"{group} is still on {where}, so NameServers keep the routes of "
            f"{' and '.join(topics)}."
        )
        return
    try:
        for topic in topics:
            await console.bounded(console.admin.delete_topic_in_namesrv(topic))
    except CALL_ERRORS as exc:
        outcome.failures.append(console.namesrv_failure(exc))
        return
    outcome.notes.append(f"Routes of {' and '.join(topics)} removed from every NameServer.")
