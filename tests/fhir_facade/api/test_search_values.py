"""FHIR R4 search value splitting: commas separate alternatives, a backslash escapes ``,``, ``|``, ``$`` and
itself, at most 50 alternatives, none empty."""

from __future__ import annotations

import pytest

from fhir_facade.api.errors import InvalidRequestError
from fhir_facade.api.search_values import alternatives, token_alternatives


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        ("a,b,a", ("a", "b")),
        (r"a\,b", ("a,b",)),
        (r"a\,b,c", ("a,b", "c")),
        ("a\\\\,b", ("a\\", "b")),  # an escaped backslash, then a separating comma
        (r"a\|b\$c", ("a|b$c",)),
        (r"a\xb", (r"a\xb",)),  # a backslash before anything else is itself
        ("a\\", ("a\\",)),
    ],
)
def test_alternatives(value: str, expected: tuple[str, ...]) -> None:
    assert alternatives("p", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("code", ((None, "code"),)),
        ("sys|code", (("sys", "code"),)),
        ("|code", (("", "code"),)),
        ("s|a,t|b", (("s", "a"), ("t", "b"))),
        (r"s\|x|v\,w", (("s|x", "v,w"),)),
        ("s|a|b", (("s", "a|b"),)),
    ],
)
def test_token_alternatives(value: str, expected: tuple[tuple[str | None, str], ...]) -> None:
    assert token_alternatives("p", value) == expected


@pytest.mark.parametrize("value", ["a,", ",a", "a,,b", ","])
def test_an_empty_alternative_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="'p' has an empty value"):
        alternatives("p", value)


def test_a_token_without_a_code_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match=r"needs a value \(system\|value\)"):
        token_alternatives("p", "sys|")


def test_at_most_50_alternatives() -> None:
    assert len(alternatives("p", ",".join(str(n) for n in range(50)))) == 50
    with pytest.raises(InvalidRequestError, match="more than 50 values") as refused:
        alternatives("p", ",".join(str(n) for n in range(51)))
    assert refused.value.issue.code == "too-long"
    assert refused.value.issue.expression == ("p",)
