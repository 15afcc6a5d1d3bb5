"""One search parameter's value as FHIR R4 search reads it: comma-separated alternatives, with escapes.

A comma separates alternatives (``patient=a,b``: either patient); ``\\,`` is a comma inside a value, and
``\\|``, ``\\$`` and ``\\\\`` are a literal bar, dollar and backslash (FHIR R4 3.1.1.5.7, "Escaping Search
Parameters"). A backslash before any other character is itself. A value may carry at most
:data:`MAX_VALUES` alternatives (Patient search counts a parameter's repeated occurrences in that cap as
well), so a query stays a small SQL expression; an empty alternative (``a,,b``) is refused.
"""

from __future__ import annotations

from typing import Final

from fhir_facade.api.errors import InvalidRequestError

__all__ = ["MAX_VALUES", "alternative_count", "alternatives", "token_alternatives"]

MAX_VALUES: Final = 50
"""Most values one search parameter may carry."""

_ESCAPABLE: Final = frozenset(",|$\\")


def _split(text: str, separator: str, *, once: bool = False) -> list[str]:
    """``text`` cut at each ``separator`` not escaped by a backslash (only at the first with ``once``),
    the pieces still escaped."""
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == separator and not (once and pieces):
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    pieces.append("".join(current))
    return pieces


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text) and text[index + 1] in _ESCAPABLE:
            out.append(text[index + 1])
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _escaped_alternatives(name: str, value: str) -> list[str]:
    pieces = _split(value, ",")
    if len(pieces) > MAX_VALUES:
        raise InvalidRequestError(
            f"search parameter {name!r} has more than {MAX_VALUES} values, the most this server accepts",
            expression=(name,),
            issue_code="too-long",
        )
    if not all(pieces):
        raise InvalidRequestError(f"search parameter {name!r} has an empty value", expression=(name,))
    return pieces


def alternative_count(value: str) -> int:
    """How many alternatives ``value`` holds (its unescaped commas + 1), before any check."""
    return len(_split(value, ","))


def alternatives(name: str, value: str) -> tuple[str, ...]:
    """The alternatives of one occurrence of search parameter ``name``, unescaped (400 when one is empty or
    there are more than the cap)."""
    return tuple(dict.fromkeys(_unescape(piece) for piece in _escaped_alternatives(name, value)))


def token_alternatives(name: str, value: str) -> tuple[tuple[str | None, str], ...]:
    """The ``system|code`` alternatives of a token value: ``(system, code)``, ``system`` ``None`` for a bare
    code and ``""`` for ``|code`` (no system); a bar escaped as ``\\|`` is part of the system or code."""
    found: list[tuple[str | None, str]] = []
    for piece in _escaped_alternatives(name, value):
        parts = _split(piece, "|", once=True)
        if len(parts) == 1:
            found.append((None, _unescape(piece)))
            continue
        system, code = (_unescape(part) for part in parts)
        if not code:
            raise InvalidRequestError(f"{name} needs a value (system|value)", expression=(name,))
        found.append((system, code))
    return tuple(dict.fromkeys(found))
