"""FHIR R4 Patient ↔ the clinic store's demographics (:class:`xca.iti55.Demographics`) and identifiers.

Input is checked element by element; problems name the element (``issue.expression``): malformed FHIR is
400, a valid Patient this gateway cannot pull for is 422 (it needs a name with a family name, a gender
and a full birth date; elements beyond identifier, name, gender, birthDate, address and telecom are not
stored and are refused rather than silently dropped). Uses are mapped to and from the HL7 V3 codes the
store keeps (the ITI-55 wire form).

Repeating elements are capped (``MAX_IDENTIFIERS`` ... ``MAX_ADDRESS_LINES``): a body over a cap is 400
before any element is read, and the cheap single-valued elements (gender, birthDate) are checked before the
repeating ones, so one large body cannot hold the server.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fhir_facade.api.errors import BusinessRuleError, InvalidRequestError
from gateway.store.demographics import demographics_from_json
from gateway.store.models import Patient
from xca.ids import is_oid
from xca.iti55 import Address, AdministrativeGender, Demographics, Ii, PersonName, Telecom

__all__ = [
    "MAX_ADDRESSES",
    "MAX_ADDRESS_LINES",
    "MAX_IDENTIFIERS",
    "MAX_NAMES",
    "MAX_NAME_PARTS",
    "MAX_TELECOMS",
    "VERSION_ID",
    "NewPatient",
    "format_system",
    "parse_patient",
    "patient_resource",
    "store_system",
]

MAX_IDENTIFIERS: Final = 100
MAX_NAMES: Final = 50
MAX_TELECOMS: Final = 50
MAX_ADDRESSES: Final = 20
MAX_NAME_PARTS: Final = 10
"""Most ``given``, ``prefix`` or ``suffix`` entries in one name."""
MAX_ADDRESS_LINES: Final = 10
"""Most ``line`` entries in one address."""
VERSION_ID: Final = "1"
"""A patient's only version: the API creates patients and never updates them."""

_IGNORED: Final = frozenset({"resourceType", "id", "meta", "text", "implicitRules", "language"})
_STORED: Final = frozenset({"identifier", "name", "gender", "birthDate", "address", "telecom"})
_GENDER_IN: Final = {
    "male": AdministrativeGender.MALE,
    "female": AdministrativeGender.FEMALE,
    "other": AdministrativeGender.UNDIFFERENTIATED,
    "unknown": None,
}
_GENDER_OUT: Final = {value: key for key, value in _GENDER_IN.items()}
_NAME_USE: Final = {"official": "L", "usual": "ASGN", "nickname": "P", "maiden": "M", "temp": "SRCH"}
_ADDRESS_USE: Final = {"home": "H", "work": "WP", "temp": "TMP", "old": "OLD"}
_TELECOM_USE: Final = {"home": "HP", "work": "WP", "mobile": "MC", "temp": "TMP", "old": "BAD"}
_TELECOM_SCHEME: Final = {"phone": "tel:", "email": "mailto:", "fax": "fax:", "url": ""}
_DATE: Final = re.compile(r"(\d{4})(-(\d{2})(-(\d{2}))?)?")
_URI: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:\S+")
_MAX: Final = 255
_LIMITS: Final = {
    "identifier": MAX_IDENTIFIERS,
    "name": MAX_NAMES,
    "telecom": MAX_TELECOMS,
    "address": MAX_ADDRESSES,
}
_NESTED_LIMITS: Final = {
    "name": {"given": MAX_NAME_PARTS, "prefix": MAX_NAME_PARTS, "suffix": MAX_NAME_PARTS},
    "address": {"line": MAX_ADDRESS_LINES},
}


@dataclass(frozen=True, slots=True)
class NewPatient:
    """A validated Patient to register: demographics and identifiers as ``(system, value)``, system stored
    as a bare OID for ``urn:oid:`` systems and as the URI otherwise."""

    demographics: Demographics
    identifiers: tuple[tuple[str, str], ...]


def store_system(system: str) -> str:
    return system.removeprefix("urn:oid:") if system.startswith("urn:oid:") else system


def format_system(stored: str) -> str:
    return f"urn:oid:{stored}" if is_oid(stored) else stored


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{where} must be a non-empty string", expression=(where,))
    if len(value) > _MAX or not value.isprintable() or value != value.strip():
        raise InvalidRequestError(
            f"{where} must be printable, trimmed and at most {_MAX} characters", expression=(where,)
        )
    return value


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    return _text(data[key], f"{where}.{key}") if data.get(key) is not None else None


def _texts(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = data.get(key)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidRequestError(f"{where}.{key} must be an array", expression=(f"{where}.{key}",))
    return tuple(_text(item, f"{where}.{key}[{index}]") for index, item in enumerate(items))


def _objects(data: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise InvalidRequestError(
            f"Patient.{key} must be an array of objects", expression=(f"Patient.{key}",)
        )
    return [(f"Patient.{key}[{index}]", item) for index, item in enumerate(items)]


def _too_many(where: str, limit: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"{where} has more than {limit} entries, the most this server accepts",
        expression=(where,),
        issue_code="too-long",
    )


def _check_limits(data: Mapping[str, Any]) -> None:
    """400 if a repeating element has more entries than its cap; reads only list lengths."""
    for key, limit in _LIMITS.items():
        items = data.get(key)
        if isinstance(items, list) and len(items) > limit:
            raise _too_many(f"Patient.{key}", limit)
    for key, nested in _NESTED_LIMITS.items():
        items = data.get(key)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for part, limit in nested.items():
                parts = item.get(part)
                if isinstance(parts, list) and len(parts) > limit:
                    raise _too_many(f"Patient.{key}[{index}].{part}", limit)


def _use(data: Mapping[str, Any], where: str, table: Mapping[str, str]) -> str | None:
    use = _optional_text(data, "use", where)
    return table.get(use) if use is not None else None


def _identifiers(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found: dict[tuple[str, str], None] = {}  # an ordered set: the repeat check stays linear
    for where, item in _objects(data, "identifier"):
        system = _text(item.get("system"), f"{where}.system")
        value = _text(item.get("value"), f"{where}.value")
        if not _URI.fullmatch(system) or (system.startswith("urn:oid:") and not is_oid(system[8:])):
            raise InvalidRequestError(
                f"{where}.system must be an absolute URI", expression=(f"{where}.system",)
            )
        pair = (store_system(system), value)
        if pair in found:
            raise InvalidRequestError(f"{where} repeats an identifier", expression=(where,))
        found[pair] = None
    return tuple(found)


def _names(data: Mapping[str, Any]) -> tuple[PersonName, ...]:
    names = []
    for where, item in _objects(data, "name"):
        names.append(
            PersonName(
                given=_texts(item, "given", where),
                family=_optional_text(item, "family", where),
                prefix=_texts(item, "prefix", where),
                suffix=_texts(item, "suffix", where),
                use=_use(item, where, _NAME_USE),
                text=_optional_text(item, "text", where),
            )
        )
    if not any(name.family for name in names):
        raise BusinessRuleError("a patient needs a name with a family name", expression=("Patient.name",))
    return tuple(names)


def _birth_date(data: Mapping[str, Any]) -> dt.date:
    raw = data.get("birthDate")
    if raw is None:
        raise BusinessRuleError("a patient needs a birthDate", expression=("Patient.birthDate",))
    match = _DATE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise InvalidRequestError("Patient.birthDate must be a FHIR date", expression=("Patient.birthDate",))
    if match[5] is None:
        raise BusinessRuleError(
            "Patient.birthDate must be a full date (YYYY-MM-DD) to search other communities",
            expression=("Patient.birthDate",),
        )
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(
            "Patient.birthDate is not a calendar date", expression=("Patient.birthDate",)
        ) from None
    if day > dt.datetime.now(dt.UTC).date():
        raise BusinessRuleError("Patient.birthDate is in the future", expression=("Patient.birthDate",))
    return day


def _gender(data: Mapping[str, Any]) -> AdministrativeGender | None:
    raw = data.get("gender")
    if raw is None:
        raise BusinessRuleError("a patient needs a gender", expression=("Patient.gender",))
    if not isinstance(raw, str) or raw not in _GENDER_IN:
        raise InvalidRequestError(
            "Patient.gender must be male, female, other or unknown", expression=("Patient.gender",)
        )
    return _GENDER_IN[raw]


def _addresses(data: Mapping[str, Any]) -> tuple[Address, ...]:
    return tuple(
        Address(
            street_lines=_texts(item, "line", where),
            city=_optional_text(item, "city", where),
            state=_optional_text(item, "state", where),
            postal_code=_optional_text(item, "postalCode", where),
            country=_optional_text(item, "country", where),
            use=_use(item, where, _ADDRESS_USE),
        )
        for where, item in _objects(data, "address")
    )


def _telecoms(data: Mapping[str, Any]) -> tuple[Telecom, ...]:
    found = []
    for where, item in _objects(data, "telecom"):
        system = _text(item.get("system"), f"{where}.system")
        if system not in _TELECOM_SCHEME:
            raise BusinessRuleError(
                f"{where}.system must be phone, email, fax or url here", expression=(f"{where}.system",)
            )
        value = _text(item.get("value"), f"{where}.value")
        found.append(Telecom(_TELECOM_SCHEME[system] + value, _use(item, where, _TELECOM_USE)))
    return tuple(found)


def parse_patient(data: Mapping[str, Any], *, assigning_authority: str) -> NewPatient:
    """A Patient resource as demographics and identifiers to register; raises 400/422 errors."""
    unsupported = sorted(set(data) - _IGNORED - _STORED)
    if unsupported:
        raise BusinessRuleError(
            "this server stores only identifier, name, gender, birthDate, address and telecom; remove "
            + ", ".join(unsupported),
            expression=tuple(f"Patient.{key}" for key in unsupported),
        )
    _check_limits(data)
    gender = _gender(data)
    birth_date = _birth_date(data)
    identifiers = _identifiers(data)
    names = _names(data)
    network_ids = tuple(
        Ii(system, value) for system, value in identifiers if is_oid(system) and system != assigning_authority
    )
    demographics = Demographics(
        names=names,
        gender=gender,
        birth_date=birth_date,
        addresses=_addresses(data),
        telecoms=_telecoms(data),
        identifiers=network_ids,
    )
    return NewPatient(demographics, identifiers)


def _reverse(table: Mapping[str, str], code: str | None) -> str | None:
    return next((fhir for fhir, v3 in table.items() if v3 == code), None) if code else None


def _compact(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value not in (None, [], "")}


def _telecom_out(telecom: Telecom) -> dict[str, Any]:
    system, value = "url", telecom.value
    for name, scheme in _TELECOM_SCHEME.items():
        if scheme and telecom.value.startswith(scheme):
            system, value = name, telecom.value[len(scheme) :]
            break
    return _compact({"system": system, "value": value, "use": _reverse(_TELECOM_USE, telecom.use)})


def patient_resource(patient: Patient) -> dict[str, Any]:
    """The stored patient as a FHIR R4 Patient (plain dict)."""
    demo = demographics_from_json(patient.demographics)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.id),
        "meta": {
            "versionId": VERSION_ID,
            "lastUpdated": patient.updated_at.isoformat().replace("+00:00", "Z"),
        },
        "identifier": [
            {"system": format_system(row.system), "value": row.value}
            for row in sorted(patient.identifiers, key=lambda row: row.id)
        ],
        "name": [
            _compact(
                {
                    "use": _reverse(_NAME_USE, name.use),
                    "text": name.text,
                    "family": name.family,
                    "given": list(name.given),
                    "prefix": list(name.prefix),
                    "suffix": list(name.suffix),
                }
            )
            for name in demo.names
        ],
        "gender": _GENDER_OUT.get(demo.gender, "unknown"),
    }
    if demo.birth_date is not None:
        resource["birthDate"] = demo.birth_date.isoformat()
    if demo.telecoms:
        resource["telecom"] = [_telecom_out(telecom) for telecom in demo.telecoms]
    if demo.addresses:
        resource["address"] = [
            _compact(
                {
                    "use": _reverse(_ADDRESS_USE, address.use),
                    "line": list(address.street_lines),
                    "city": address.city,
                    "state": address.state,
                    "postalCode": address.postal_code,
                    "country": address.country,
                }
            )
            for address in demo.addresses
        ]
    return _compact(resource)
