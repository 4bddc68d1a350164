import pytest

from orbitmq.protocol.subscription import parse_subscription


@pytest.mark.parametrize("expression", ["*", "", None, "  *  ", "   "])
def test_match_all(expression: str | None) -> None:
    sub = parse_subscription("T", expression, 7)
    assert sub.sub_string == "*"
    assert sub.tags_set == []
    assert sub.code_set == []
    assert sub.sub_version == 7
    assert sub.matches(None)
    assert sub.matches("anything")


def test_tags_and_hash_codes() -> None:
    sub = parse_subscription("T", "TagA || TagB", 1)
    assert sub.tags_set == ["TagA", "TagB"]
    assert sub.code_set == [2598919, 2598920]
    assert sub.sub_string == "TagA || TagB"


def test_trims_and_drops_empty_pieces_and_duplicates() -> None:
    sub = parse_subscription("T", " TagA||  ||TagB ||TagA", 1)
    assert sub.tags_set == ["TagA", "TagB"]


def test_exact_client_filter() -> None:
    sub = parse_subscription("T", "TagA || TagB", 1)
    assert sub.matches("TagA")
    assert sub.matches("TagB")
    assert not sub.matches("TagC")
    assert not sub.matches(None)
    assert not sub.matches("taga")


def test_non_ascii_tag_hash() -> None:
    assert parse_subscription("T", "中文标签", 1).code_set == [622041809]


def test_expression_without_tags_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_subscription("T", "||", 1)


def test_default_version_is_now_in_ms() -> None:
    assert parse_subscription("T").sub_version > 1_600_000_000_000


def test_heartbeat_json_shape() -> None:
    assert parse_subscription("T", "TagA", 5).to_json() == {
        "classFilterMode": False,
        "codeSet": [2598919],
        "expressionType": "TAG",
        "subString": "TagA",
        "subVersion": 5,
        "tagsSet": ["TagA"],
        "topic": "T",
    }
