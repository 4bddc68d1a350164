"""The one SubscriptionData shared by the broker's filter and the client."""

from __future__ import annotations

from orbitmq.protocol.subscription import CodeSet, parse_subscription, subscription_from_json


def test_code_set_keeps_tag_order_and_set_membership() -> None:
    codes = parse_subscription("T", "TagB || TagA", 1).code_set
    assert list(codes) == [2598920, 2598919]
    assert codes == [2598920, 2598919] and codes != [2598919, 2598920]
    assert codes == {2598919, 2598920} == codes
    assert 2598919 in codes and 1 not in codes
    assert CodeSet([3, 3, 1]) == (3, 1)


def test_expression_is_kept_as_written() -> None:
    assert parse_subscription("T", " TagA ", 1).sub_string == " TagA "


def test_heartbeat_without_tags_matches_all_instead_of_failing() -> None:
    sub = subscription_from_json({"topic": "T", "subString": "||", "subVersion": 3})
    assert sub.matches_all and sub.sub_version == 3
    assert sub.matches_tags_code(12345)
