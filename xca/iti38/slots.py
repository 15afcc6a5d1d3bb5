"""ebRIM slots and the ebRS stored-query value syntax (IHE ITI TF-2a 3.18.4.1.2.3.5, ebRIM 3.0 Slot).

A stored-query parameter value is a single-quoted string (``'a'``, an embedded quote doubled: ``'O''Brien'``),
an unquoted number (``20200101``), or a parenthesised list of those (``('a','b')``). :func:`parse_value` reads
that grammar exactly, treating every character as data: nothing is evaluated, and a value with an
unterminated quote or trailing text is refused with ``InvalidValueError``, never repaired.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError
from xca.ns import q

__all__ = [
    "MAX_VALUE_LENGTH",
    "ParsedValue",
    "Token",
    "add_slot",
    "format_list",
    "pack_list",
    "parse_value",
    "quote",
    "read_slots",
]

MAX_VALUE_LENGTH: Final = 256
"""``rim:Value`` is an ebRIM LongName (at most 256 characters)."""

_SEPARATORS: Final = frozenset(",'()")


@dataclass(frozen=True)
class Token:
    """One item of a parameter value; ``quoted`` says whether it was a quoted string."""

    text: str
    quoted: bool


@dataclass(frozen=True)
class ParsedValue:
    items: tuple[Token, ...]
    is_list: bool


def quote(text: str) -> str:
    """``text`` as an ebRS string literal: single quotes around it, embedded quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def format_list(items: Iterable[str]) -> str:
    """A parenthesised list of already formatted items: ``('a','b')``."""
    return "(" + ",".join(items) + ")"


def pack_list(literals: Sequence[str], *, what: str) -> list[str]:
    """Split formatted ``literals`` over as few ``('a','b')`` values of at most 256 characters as possible.

    Several Value elements of one slot are OR-ed like items of one list, except in AND/OR parameters,
    whose callers pack each group alone.
    """
    values: list[str] = []
    current: list[str] = []
    for literal in literals:
        if len(format_list([literal])) > MAX_VALUE_LENGTH:
            raise InvalidValueError(f"{what} value longer than 256 characters", detail={"what": what})
        if current and len(format_list([*current, literal])) > MAX_VALUE_LENGTH:
            values.append(format_list(current))
            current = []
        current.append(literal)
    if current:
        values.append(format_list(current))
    return values


def parse_value(raw: str) -> ParsedValue:
    """Read one ``rim:Value`` text as a literal or a list of literals (see the module docstring)."""
    text = raw.strip()
    if not text:
        raise InvalidValueError("empty stored query value")
    if text.startswith("("):
        if not text.endswith(")"):
            raise InvalidValueError("stored query list is not closed with ')'")
        return ParsedValue(_items(text[1:-1]), is_list=True)
    items = _items(text)
    if len(items) != 1:
        raise InvalidValueError("several stored query values outside a list")
    return ParsedValue(items, is_list=False)


def _items(text: str) -> tuple[Token, ...]:
    found: list[Token] = []
    pos, end = 0, len(text)
    while True:
        pos = _skip_space(text, pos)
        if pos >= end:
            raise InvalidValueError("missing value in stored query list")
        if text[pos] == "'":
            token, pos = _quoted(text, pos + 1)
        else:
            start = pos
            while pos < end and text[pos] not in _SEPARATORS and not text[pos].isspace():
                pos += 1
            if pos == start:
                raise InvalidValueError("unexpected character in stored query value")
            token = Token(text[start:pos], quoted=False)
        found.append(token)
        pos = _skip_space(text, pos)
        if pos >= end:
            return tuple(found)
        if text[pos] != ",":
            raise InvalidValueError("unexpected text after a stored query value")
        pos += 1


def _quoted(text: str, pos: int) -> tuple[Token, int]:
    chars: list[str] = []
    end = len(text)
    while pos < end:
        char = text[pos]
        if char == "'":
            if pos + 1 < end and text[pos + 1] == "'":
                chars.append("'")
                pos += 2
                continue
            return Token("".join(chars), quoted=True), pos + 1
        chars.append(char)
        pos += 1
    raise InvalidValueError("unterminated quoted stored query value")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def add_slot(parent: etree._Element, name: str, values: Sequence[str]) -> etree._Element:
    """Append ``rim:Slot name=... / rim:ValueList / rim:Value*`` to ``parent``."""
    for value in values:
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidValueError("slot value longer than 256 characters", detail={"slot": name})
    slot = etree.SubElement(parent, q(ns.RIM, "Slot"), name=name)
    value_list = etree.SubElement(slot, q(ns.RIM, "ValueList"))
    for value in values:
        etree.SubElement(value_list, q(ns.RIM, "Value")).text = value
    return slot


def read_slots(element: etree._Element) -> dict[str, list[str]]:
    """Direct ``rim:Slot`` children of ``element``: name → Value texts (slots repeated by name are merged)."""
    slots: dict[str, list[str]] = {}
    for slot in element.findall(q(ns.RIM, "Slot")):
        name = (slot.get("name") or "").strip()
        values = slots.setdefault(name, [])
        for value in slot.iterfind(f"{q(ns.RIM, 'ValueList')}/{q(ns.RIM, 'Value')}"):
            values.append(value.text or "")
    return slots
