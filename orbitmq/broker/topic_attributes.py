"""Topic attributes, RocketMQ 5's key/value extension of a topic's config
(TopicAttributes.java, AttributeParser.java, AttributeUtil.java in apache/rocketmq).

A change travels as text: comma-separated `+key=value` (add or change) and `-key`
(delete), e.g. `+message.type=FIFO,-reserve.time`. `mqadmin updateTopic -a TEXT` checks
its format, and the UPDATE_AND_CREATE_TOPIC header carries it as `attributes`. The broker
applies it to the topic's current map and keeps the result in TopicConfig.attributes
(`"attributes":{"message.type":"FIFO"}` in topics.json and GET_TOPIC_CONFIG).

Rules (AttributeUtil.alterCurrentAttributes): only known keys; a key at most once; a new
topic takes only `+key=value`; an existing topic's unchangeable attributes (queue.type,
cleanup.policy) keep the value they were created with; `-key` needs the key to be set;
every value is checked against its attribute. A change without attributes keeps the
topic's current ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orbitmq.broker.errors import TopicAttributeError
from orbitmq.broker.message_type import MESSAGE_TYPE_ATTRIBUTE, TopicMessageType

ADD_SIGN = "+"
DELETE_SIGN = "-"


@dataclass(frozen=True, slots=True)
class EnumAttribute:
    """One of a fixed set of values. `unsupported`: values RocketMQ takes that OrbitMQ's
    store cannot honour, refused rather than stored and silently ignored."""

    name: str
    changeable: bool
    universe: frozenset[str]
    default: str
    unsupported: frozenset[str] = frozenset()

    def verify(self, value: str) -> None:
        if value not in self.universe:
            known = ", ".join(sorted(self.universe))
            raise TopicAttributeError(f"value is not in set: [{known}] ({self.name}={value})")
        if value in self.unsupported:
            raise TopicAttributeError(
                f"{self.name}={value} is not supported by OrbitMQ; use {self.default}"
            )


@dataclass(frozen=True, slots=True)
class LongRangeAttribute:
    name: str
    changeable: bool
    minimum: int
    maximum: int
    default: int

    def verify(self, value: str) -> None:
        try:
            number = int(value)
        except ValueError:
            raise TopicAttributeError(f"{self.name}={value} is not a number") from None
        if not self.minimum <= number <= self.maximum:
            raise TopicAttributeError(
                f"value is not in range({self.minimum}, {self.maximum}) ({self.name}={value})"
            )


Attribute = EnumAttribute | LongRangeAttribute

QUEUE_TYPE_ATTRIBUTE = EnumAttribute(
    "queue.type",
    False,
    frozenset({"BatchCQ", "SimpleCQ"}),
    "SimpleCQ",
    unsupported=frozenset({"BatchCQ"}),  # one consume queue format here
)
CLEANUP_POLICY_ATTRIBUTE = EnumAttribute(
    "cleanup.policy",
    False,
    frozenset({"DELETE", "COMPACTION"}),
    "DELETE",
    unsupported=frozenset({"COMPACTION"}),  # no compacted topics here
)
TOPIC_MESSAGE_TYPE_ATTRIBUTE = EnumAttribute(
    MESSAGE_TYPE_ATTRIBUTE,
    True,
    frozenset(t.value for t in TopicMessageType),
    TopicMessageType.NORMAL.value,
)
# Tiered storage's retention; like a Java broker without tiered storage, kept and unused.
TOPIC_RESERVE_TIME_ATTRIBUTE = LongRangeAttribute("reserve.time", True, -1, 2**63 - 1, -1)
TOPIC_ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        QUEUE_TYPE_ATTRIBUTE,
        CLEANUP_POLICY_ATTRIBUTE,
        TOPIC_MESSAGE_TYPE_ATTRIBUTE,
        TOPIC_RESERVE_TIME_ATTRIBUTE,
    )
}


def parse_attributes(text: str | None) -> dict[str, str]:
    """AttributeParser.parseToMap: `+k=v,-k2` -> {"+k": "v", "-k2": ""}, signs kept.

    Raises:
        TopicAttributeError: an entry is neither `+key=value` nor `-key`, or repeats.
    """
    if not text:
        return {}
    changes: dict[str, str] = {}
    entries = text.split(",")
    while entries and not entries[-1]:  # Java's split drops trailing empty strings
        entries.pop()
    for entry in entries:
        if "=" in entry:
            key, _, value = entry.partition("=")
            if not key.startswith(ADD_SIGN) or not value:
                raise TopicAttributeError(
                    f"add/alter attribute format is wrong: {entry} (expected +key=value)"
                )
        else:
            key, value = entry, ""
            if not key.startswith(DELETE_SIGN):
                raise TopicAttributeError(
                    f"delete attribute format is wrong: {entry} (expected -key, or +key=value)"
                )
        if key in changes:
            raise TopicAttributeError(f"key duplication: {key}")
        changes[key] = value
    return changes


def attributes_to_text(changes: Mapping[str, str]) -> str:
    """AttributeParser.parseToString: the header text of a parsed change."""
    return ",".join(f"{key}={value}" if value else key for key, value in changes.items())


def alter_attributes(
    create: bool, current: Mapping[str, str], changes: Mapping[str, str]
) -> dict[str, str]:
    """AttributeUtil.alterCurrentAttributes: the attributes after `changes`
    (`parse_attributes`' map: every key starts with + or -) are applied to `current`
    (empty for a new topic).

    Raises:
        TopicAttributeError: the change breaks a rule (module docstring).
    """
    result = dict(current)
    seen: set[str] = set()
    for key, value in changes.items():
        sign, name = key[:1], key[1:]
        if not name or ADD_SIGN in name or DELETE_SIGN in name:
            raise TopicAttributeError(f"kv string format wrong: {key}")
        if name in seen:
            raise TopicAttributeError(f"alter duplication key. key: {name}")
        seen.add(name)
        if create and sign != ADD_SIGN:
            raise TopicAttributeError(
                f"only add attribute is supported while creating topic. key: {name}"
            )
        if sign == DELETE_SIGN and name not in current:
            raise TopicAttributeError(f"attempt to delete a nonexistent key: {name}")
        attribute = TOPIC_ATTRIBUTES.get(name)
        if attribute is None:
            known = ", ".join(sorted(TOPIC_ATTRIBUTES))
            raise TopicAttributeError(f"unsupported key: {name} (known keys: {known})")
        if not create and not attribute.changeable:
            raise TopicAttributeError(
                f"attempt to update an unchangeable attribute. key: {name} (it is fixed "
                "when the topic is created)"
            )
        if sign == ADD_SIGN:
            attribute.verify(value)
            result[name] = value
        else:
            del result[name]
    return result
