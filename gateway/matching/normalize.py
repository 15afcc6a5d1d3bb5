"""Normalized demographics: the comparable form of an ITI-55 query or of a local patient's record.

Names lose case, accents, punctuation and generational suffixes and are split into tokens (compound family
names such as ``Garcia-Lopez`` keep each part); addresses use USPS-style abbreviations and 5-digit ZIP codes;
phone numbers keep their last ten digits. Nothing here logs or raises on odd input: what cannot be read is
left out, and a missing attribute is never evidence either way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Final

from xca.iti55 import SSN_ROOT, AdministrativeGender, Demographics, PartialDate, PersonName

__all__ = [
    "NormalizedAddress",
    "NormalizedName",
    "NormalizedPerson",
    "normalize_demographics",
    "normalize_text",
]

_NON_ALNUM: Final = re.compile(r"[^0-9a-z]+")
_APOSTROPHES: Final = frozenset("'\u2019`")  # O'Brien is one word, Garcia-Lopez two
_SUFFIXES: Final = frozenset({"jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "esq"})
_PREFIXES: Final = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "rev"})
_STREET_WORDS: Final = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "boulevard": "blvd",
    "court": "ct",
    "place": "pl",
    "terrace": "ter",
    "circle": "cir",
    "highway": "hwy",
    "parkway": "pkwy",
    "square": "sq",
    "apartment": "apt",
    "suite": "ste",
    "unit": "apt",
    "number": "apt",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}


def normalize_text(value: str | None) -> str:
    """Lower case, accents and apostrophes removed, any other run of punctuation or space one space."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch not in _APOSTROPHES)
    return _NON_ALNUM.sub(" ", plain.casefold()).strip()


@dataclass(frozen=True)
class NormalizedName:
    """One person name: given-name tokens in order (first, middle...) and family-name tokens."""

    given: tuple[str, ...]
    family: tuple[str, ...]

    @property
    def family_text(self) -> str:
        return " ".join(self.family)


@dataclass(frozen=True)
class NormalizedAddress:
    street: str
    city: str
    state: str
    postal_code: str


@dataclass(frozen=True)
class NormalizedPerson:
    """Everything the scorer compares; empty tuples and ``None`` mean "not stated"."""

    names: tuple[NormalizedName, ...] = ()
    gender: AdministrativeGender | None = None
    birth_date: date | None = None
    birth_partial: PartialDate | None = None
    addresses: tuple[NormalizedAddress, ...] = ()
    phones: frozenset[str] = frozenset()
    ssn: str | None = None
    identifiers: frozenset[tuple[str, str]] = frozenset()

    @property
    def birth_year(self) -> int | None:
        if self.birth_date is not None:
            return self.birth_date.year
        return self.birth_partial.year if self.birth_partial is not None else None


def _tokens(parts: tuple[str, ...] | list[str], drop: frozenset[str]) -> tuple[str, ...]:
    found: list[str] = []
    for part in parts:
        found.extend(t for t in normalize_text(part).split() if t not in drop)
    return tuple(found)


def _name(name: PersonName) -> NormalizedName | None:
    given, family = list(name.given), [name.family] if name.family else []
    if not given and not family and name.text:
        # An unstructured name: "Family, Given" or "Given Family".
        if "," in name.text:
            family_text, _, given_text = name.text.partition(",")
            given, family = [given_text], [family_text]
        else:
            *given, last = name.text.split() or [""]
            family = [last]
    normalized = NormalizedName(
        given=_tokens(given, _SUFFIXES | _PREFIXES), family=_tokens(family, _SUFFIXES | _PREFIXES)
    )
    return normalized if normalized.given or normalized.family else None


def _street(lines: tuple[str, ...]) -> str:
    words = normalize_text(" ".join(lines)).split()
    return " ".join(_STREET_WORDS.get(word, word) for word in words)


def _phone(value: str) -> str | None:
    if not value.lower().startswith("tel:"):
        return None
    digits = re.sub(r"\D", "", value)
    return digits[-10:] if len(digits) >= 10 else None


def normalize_demographics(demo: Demographics) -> NormalizedPerson:
    """The comparable form of ``demo`` (a query's parameters or a stored patient's demographics)."""
    names = tuple(n for n in (_name(name) for name in demo.names) if n is not None)
    addresses = tuple(
        NormalizedAddress(
            street=_street(a.street_lines),
            city=normalize_text(a.city),
            state=normalize_text(a.state),
            postal_code=re.sub(r"\D", "", a.postal_code or "")[:5],
        )
        for a in demo.addresses
    )
    phones = frozenset(p for p in (_phone(t.value) for t in demo.telecoms) if p)
    ssn = re.sub(r"\D", "", demo.ssn or "") or None
    identifiers = frozenset(
        (i.root, i.extension) for i in demo.identifiers if i.extension and i.root != SSN_ROOT
    )
    gender = demo.gender if demo.gender in (AdministrativeGender.MALE, AdministrativeGender.FEMALE) else None
    return NormalizedPerson(
        names=names,
        gender=gender,
        birth_date=demo.birth_date,
        birth_partial=demo.birth_date_partial,
        addresses=tuple(a for a in addresses if a.street or a.postal_code or a.city),
        phones=phones,
        ssn=ssn,
        identifiers=identifiers,
    )
