"""The requesting user of an outbound query, validated before any assertion is built (IHE ITI TF-2b
3.40.4.1.2).

Every field ends up in the XUA assertion: the person's name (subject-id), NPI, SNOMED role, organization,
purpose of use and an optional delegation grantor. Refusals are :class:`~xca.errors.XuaValueError` naming the
field, never its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gateway.security.vocab import (
    SNOMED_ROLES,
    SNOMED_SYSTEM,
    CodedValue,
    NameIdFormat,
    NhinPurpose,
    PurposeOfUse,
    TefcaPurpose,
)
from xca.errors import XuaValueError
from xca.ids import is_oid

__all__ = ["NPI_PREFIX", "Organization", "RequestingUser", "Role", "is_valid_npi"]

NPI_PREFIX: Final = "80840"
"""ISO 7812 prefix of the NPI's issuer; the Luhn check digit is computed over prefix + first nine digits."""

_NPI_RE: Final = re.compile(r"[0-9]{10}")
# Printable text without control characters, and only characters XML can carry (no surrogates, U+FFFE,
# U+FFFF); generous otherwise, because names are names.
_TEXT_RE: Final = re.compile("[^\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]+")
_MAX_TEXT: Final = 256


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_valid_npi(value: str) -> bool:
    """True for a ten-digit NPI whose last digit is the Luhn check digit over ``80840`` + its first nine."""
    return bool(_NPI_RE.fullmatch(value)) and _luhn_ok(NPI_PREFIX + value)


def _text(value: str, field: str) -> str:
    if not isinstance(value, str) or not _TEXT_RE.fullmatch(value) or len(value) > _MAX_TEXT:
        raise XuaValueError(f"{field} must be non-empty printable text", detail={"field": field})
    if value != value.strip():
        raise XuaValueError(f"{field} has leading or trailing white space", detail={"field": field})
    return value


def _oid(value: str, field: str) -> str:
    if not is_oid(value):
        raise XuaValueError(f"{field} must be a bare dotted OID", detail={"field": field})
    return value


@dataclass(frozen=True)
class Role:
    """A SNOMED CT occupation code from :data:`~gateway.security.vocab.SNOMED_ROLES`."""

    code: str

    def __post_init__(self) -> None:
        if self.code not in SNOMED_ROLES:
            raise XuaValueError("role is not a known SNOMED CT occupation code", detail={"field": "role"})

    @property
    def coded(self) -> CodedValue:
        return CodedValue(self.code, SNOMED_SYSTEM, "SNOMED_CT", SNOMED_ROLES[self.code])

    @classmethod
    def physician(cls) -> Role:
        return cls("112247003")

    @classmethod
    def nurse(cls) -> Role:
        return cls("106292003")

    @classmethod
    def administrative(cls) -> Role:
        return cls("224608005")


@dataclass(frozen=True)
class Organization:
    """An organization by name and bare OID (sent as ``urn:oid:...``)."""

    name: str
    oid: str

    def __post_init__(self) -> None:
        _text(self.name, "organization")
        _oid(self.oid, "organization_id")


@dataclass(frozen=True)
class RequestingUser:
    """The clinician or staff member on whose behalf the gateway queries.

    ``user_id`` becomes the Subject NameID (``name_id_format``); ``name`` the subject-id attribute.
    ``grantor``
    is the OID of the principal organization in a Carequality delegated query.
    """

    user_id: str
    name: str
    role: Role
    organization: Organization
    purpose_of_use: PurposeOfUse
    npi: str | None = None
    grantor: str | None = None
    name_id_format: NameIdFormat = NameIdFormat.UNSPECIFIED

    def __post_init__(self) -> None:
        _text(self.user_id, "user_id")
        _text(self.name, "name")
        if not isinstance(self.role, Role):
            raise XuaValueError("role must be a Role", detail={"field": "role"})
        if not isinstance(self.organization, Organization):
            raise XuaValueError("organization must be an Organization", detail={"field": "organization"})
        if not isinstance(self.purpose_of_use, NhinPurpose | TefcaPurpose):
            raise XuaValueError(
                "purpose_of_use must be an nhin-purpose or TEFCA code", detail={"field": "purpose_of_use"}
            )
        if self.npi is not None and not is_valid_npi(self.npi):
            raise XuaValueError("npi is not a valid NPI (ten digits, Luhn check)", detail={"field": "npi"})
        if self.grantor is not None:
            _oid(self.grantor, "grantor")
