"""ebRS stored-query value syntax: quoting, lists, packing, and refusal of malformed values."""

from __future__ import annotations

import pytest

from xca.errors import InvalidValueError
from xca.iti38.slots import Token, pack_list, parse_value, quote


def test_quote_doubles_embedded_quotes() -> None:
    assert quote("O'Brien") == "'O''Brien'"
    assert parse_value(quote("O'Brien")).items == (Token("O'Brien", quoted=True),)


@pytest.mark.parametrize(
    ("raw", "items", "is_list"),
    [
        ("'a'", ("a",), False),
        ("('a')", ("a",), True),
        ("('a','b')", ("a", "b"), True),
        (" ( 'a' , 'b' ) ", ("a", "b"), True),
        ("('a,b','c(d)')", ("a,b", "c(d)"), True),
        ("('it''s','')", ("it's", ""), True),
    ],
)
def test_parse_quoted_values(raw: str, items: tuple[str, ...], is_list: bool) -> None:
    parsed = parse_value(raw)
    assert tuple(t.text for t in parsed.items) == items
    assert all(t.quoted for t in parsed.items)
    assert parsed.is_list is is_list


def test_parse_number_is_unquoted() -> None:
    assert parse_value("20200101").items == (Token("20200101", quoted=False),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("('a'", "not closed"),
        ("'a", "unterminated"),
        ("'a''", "unterminated"),
        ("('a',)", "missing value"),
        ("'a' 'b'", "unexpected text"),
        ("'a','b'", "outside a list"),
        ("('a'),('b')", "unexpected text"),
        ("'593603^^^&1.2&ISO''%20and%20611%3d611--%20", "unterminated"),
    ],
)
def test_malformed_values_are_refused(raw: str, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        parse_value(raw)


def test_pack_list_splits_at_256_characters() -> None:
    literals = [quote(f"{i:03d}" + "x" * 60) for i in range(10)]
    values = pack_list(literals, what="test")
    assert len(values) > 1
    assert all(len(v) <= 256 for v in values)
    flattened = [t.text for v in values for t in parse_value(v).items]
    assert flattened == [f"{i:03d}" + "x" * 60 for i in range(10)]


def test_pack_list_refuses_an_item_over_256() -> None:
    with pytest.raises(InvalidValueError, match="256"):
        pack_list([quote("x" * 300)], what="test")
