"""What a user types for a pull, read and checked at the command line: names, dates, a phone number, an
address, a position, a homeCommunityId. Errors are ``argparse.ArgumentTypeError`` messages that never repeat a
value that is PHI (a birth date, a phone number)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Sequence

__all__ = [
    "add_given_argument",
    "birth_date_argument",
    "community_id_argument",
    "date_argument",
    "given_names",
    "parse_address",
    "phone_argument",
    "point_argument",
]

_ZIP_ONLY = re.compile(r"\d{5}(?:-\d{4})?")
_LAST_PART = re.compile(r"^(?:(?P<city>.*\S)\s+)?(?P<state>[A-Za-z]{2})(?:\s+(?P<zip>\d{5}(?:-\d{4})?))?$")
_COUNTRY = frozenset({"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"})
_PHONE = re.compile(r"\s*\+?[0-9 ().-]+\s*")


def parse_address(text: str) -> tuple[tuple[str, ...], str | None, str | None, str | None]:
    """``"12 Orchard Lane, Madison, WI 53703"`` → (street lines, city, state, postal code).

    Also read as people write them: ``"..., Madison WI 53703"`` (no comma before the state), ``"..., WI,
    53703"`` (the ZIP apart) and a trailing ``USA``. A state is a US state or territory code."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts and parts[-1].upper().replace(".", "") in _COUNTRY:
        parts.pop()
    postal = None
    if len(parts) >= 2 and _ZIP_ONLY.fullmatch(parts[-1]):
        postal = parts.pop()
    state = city = None
    # The last part: "ST", "ST ZIP", "City ST" or "City ST ZIP" (a ZIP in both places is no address).
    found = _LAST_PART.match(parts[-1]) if parts else None
    if found and (code := _state(found["state"])) and not (postal and found["zip"]):
        state, postal = code, postal or found["zip"]
        if found["city"]:
            parts[-1] = found["city"]
        else:
            parts.pop()
    if len(parts) >= 2:
        city = parts.pop()
    return tuple(parts), city, state, postal


def _state(text: str) -> str | None:
    """``text`` as a US state or territory code, or None."""
    from gateway.directory.geo import STATE_CENTERS  # not at import: the directory package is not light

    code = text.strip().upper()
    return code if code in STATE_CENTERS else None


def add_given_argument(parser: argparse._ActionsContainer) -> None:
    """``--given``, as `pull` and `patients add` take it: several names after the flag, or the flag again."""
    parser.add_argument(
        "--given", action="extend", nargs="+", help="given names, space separated or the option repeated"
    )


def given_names(values: Sequence[str]) -> tuple[str, ...]:
    """The given names of ``--given`` (a quoted ``'Mary Ann'`` is two)."""
    return tuple(name for value in values for name in value.split())


def date_argument(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def phone_argument(text: str) -> str:
    """A phone number as ``--phone`` takes it: digits with the usual separators, 7 to 15 digits (E.164's
    most), its spaces dropped (a ``tel:`` URI has none). The number is PHI: the message does not repeat it."""
    digits = sum(c.isdigit() for c in text)
    if not _PHONE.fullmatch(text) or not 7 <= digits <= 15:
        raise argparse.ArgumentTypeError(
            "expected a phone number such as +1-608-555-0142 or (608) 555-0142, without an extension"
        )
    return "".join(text.split())


def birth_date_argument(text: str) -> dt.date:
    # A real birth date is PHI: no message repeats it.
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date YYYY-MM-DD that exists") from None
    today = dt.date.today()
    if day > today:
        raise argparse.ArgumentTypeError(f"the birth date is in the future (today is {today})")
    return day


def point_argument(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LAT,LON such as 43.07,-89.40") from None
    return lat, lon


def community_id_argument(text: str) -> str:
    """``--to``: a homeCommunityId as the directory lists it, with or without its ``urn:oid:`` prefix."""
    return text.strip().removeprefix("urn:oid:")
