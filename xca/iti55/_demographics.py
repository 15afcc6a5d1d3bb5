"""Patient demographics in HL7 v3 for ITI-55 (IHE ITI TF-2b 3.55.4.2.2 and 3.55.4.4.2): the query's
``parameterList`` and a match's ``patientPerson``, built strictly and read tolerantly (PN, AD, TEL, II).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from lxml import etree

from xca.errors import InvalidValueError
from xca.iti55._hl7 import (
    Reader,
    attr,
    child,
    children,
    format_date,
    require_ii,
    require_oid,
    sub,
    sub_ii,
    sub_text,
    text_of,
)
from xca.iti55.models import (
    GENDER_CODE_SYSTEM,
    SSN_ROOT,
    Address,
    AdministrativeGender,
    Demographics,
    Ii,
    PartialDate,
    PersonName,
    Telecom,
)

_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_TS_DATE: Final = re.compile(r"^\d{1,8}$")
_SEMANTICS: Final = {
    "livingSubjectAdministrativeGender": "LivingSubject.administrativeGender",
    "livingSubjectBirthTime": "LivingSubject.birthTime",
    "livingSubjectId": "LivingSubject.id",
    "livingSubjectName": "LivingSubject.name",
    "patientAddress": "Patient.addr",
    "patientTelecom": "Patient.telecom",
    "principalCareProviderId": "AssignedProvider.id",
}


def check_demographics(demo: Demographics, *, query: bool) -> None:
    """Strict checks before building; ``query`` adds the ITI-55 minimum (id, or name + birth time)."""
    if demo.birth_date_raw is not None and not demo.has_birth_time:
        raise InvalidValueError("birth date must be a date; raw text is only recorded when parsing")
    if demo.birth_date is not None and demo.birth_date_partial is not None:
        raise InvalidValueError("give a birth date or a partial birth date, not both")
    for name in demo.names:
        if not (name.given or name.family or name.text):
            raise InvalidValueError("a person name needs at least a given or family name")
    for telecom in demo.telecoms:
        if not _URL.match(telecom.value):
            raise InvalidValueError("telecom value must be a URL such as tel:+1-555-555-1234 or mailto:")
    for ident in demo.identifiers:
        require_ii(ident, "patient identifier", extension=True)
    for provider in demo.principal_care_provider_ids:
        require_ii(provider, "principal care provider id", extension=True)
    if query and not demo.has_minimum_criteria:
        raise InvalidValueError("an ITI-55 query must carry a livingSubjectId, or a name and a birth date")
    if not query:
        if not demo.names:
            raise InvalidValueError("a matched patient needs at least one name (patientPerson/name)")
        if demo.principal_care_provider_ids:
            raise InvalidValueError("principal care provider ids are query parameters, not match data")


# --- building -------------------------------------------------------------------------------------------


def _name(parent: etree._Element, local: str, name: PersonName) -> None:
    element = sub(parent, local, {"use": name.use} if name.use else None)
    if name.text and not (name.given or name.family):
        element.text = name.text
        return
    for prefix in name.prefix:
        sub_text(element, "prefix", prefix)
    for given in name.given:
        sub_text(element, "given", given)
    if name.family:
        sub_text(element, "family", name.family)
    for suffix in name.suffix:
        sub_text(element, "suffix", suffix)


def _addr(parent: etree._Element, local: str, address: Address) -> None:
    element = sub(parent, local, {"use": address.use} if address.use else None)
    for line in address.street_lines:
        sub_text(element, "streetAddressLine", line)
    for part, value in (
        ("city", address.city),
        ("state", address.state),
        ("postalCode", address.postal_code),
        ("country", address.country),
    ):
        if value:
            sub_text(element, part, value)


def _telecom(parent: etree._Element, local: str, telecom: Telecom) -> None:
    sub(parent, local, {"value": telecom.value, **({"use": telecom.use} if telecom.use else {})})


def _gender(parent: etree._Element, local: str, gender: AdministrativeGender) -> None:
    sub(parent, local, {"code": gender.value, "codeSystem": GENDER_CODE_SYSTEM})


def _birth_value(demo: Demographics) -> str | None:
    if demo.birth_date is not None:
        return format_date(demo.birth_date)
    if demo.birth_date_partial is not None:
        return demo.birth_date_partial.to_ts()
    # Echoing a peer's query: keep its text when it is still a schema-valid TS.
    if demo.birth_date_raw and _TS_DATE.match(demo.birth_date_raw):
        return demo.birth_date_raw
    return None


def build_parameter_list(parent: etree._Element, demo: Demographics) -> None:
    """``parameterList`` in schema order (PRPA_MT201306UV02.ParameterList): values, then semanticsText."""
    params = sub(parent, "parameterList")
    birth = _birth_value(demo)
    if demo.gender is not None:
        _gender(sub(params, "livingSubjectAdministrativeGender"), "value", demo.gender)
    if birth is not None:
        sub(sub(params, "livingSubjectBirthTime"), "value", {"value": birth})
    for ident in demo.identifiers:
        sub_ii(sub(params, "livingSubjectId"), "value", ident)
    for name in demo.names:
        _name(sub(params, "livingSubjectName"), "value", name)
    for address in demo.addresses:
        _addr(sub(params, "patientAddress"), "value", address)
    for telecom in demo.telecoms:
        _telecom(sub(params, "patientTelecom"), "value", telecom)
    for provider in demo.principal_care_provider_ids:
        sub_ii(sub(params, "principalCareProviderId"), "value", provider)
    for parameter in params:
        sub_text(parameter, "semanticsText", _SEMANTICS[etree.QName(parameter).localname])


def build_person(parent: etree._Element, demo: Demographics) -> None:
    """``patientPerson`` in schema order (PRPA_MT201310UV02.Person)."""
    person = sub(parent, "patientPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    for name in demo.names:
        _name(person, "name", name)
    for telecom in demo.telecoms:
        _telecom(person, "telecom", telecom)
    if demo.gender is not None:
        _gender(person, "administrativeGenderCode", demo.gender)
    birth = _birth_value(demo)
    if birth is not None:
        sub(person, "birthTime", {"value": birth})
    for address in demo.addresses:
        _addr(person, "addr", address)
    for ident in demo.identifiers:
        other = sub(person, "asOtherIDs", {"classCode": "CIT" if ident.root == SSN_ROOT else "PAT"})
        sub_ii(other, "id", ident)
        org = sub(other, "scopingOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"})
        sub(org, "id", {"root": require_oid(ident.root, "identifier root")})


# --- reading --------------------------------------------------------------------------------------------


def _texts(element: etree._Element, local: str) -> tuple[str, ...]:
    return tuple(t for t in (text_of(e) for e in children(element, local)) if t)


def read_name(element: etree._Element, reader: Reader) -> PersonName:
    families = _texts(element, "family")
    given, prefix, suffix = _texts(element, "given"), _texts(element, "prefix"), _texts(element, "suffix")
    if len(families) > 1:
        reader.quirk("name with several family parts")
    has_parts = bool(families or given or prefix or suffix)
    return PersonName(
        given=given,
        family=" ".join(families) or None,
        prefix=prefix,
        suffix=suffix,
        use=attr(element, "use"),
        text=None if has_parts else text_of(element),
    )


def read_addr(element: etree._Element) -> Address:
    def one(local: str) -> str | None:
        return text_of(child(element, local))

    return Address(
        street_lines=_texts(element, "streetAddressLine"),
        city=one("city"),
        state=one("state"),
        postal_code=one("postalCode"),
        country=one("country"),
        use=attr(element, "use"),
    )


def read_telecom(element: etree._Element) -> Telecom | None:
    value = attr(element, "value")
    return None if value is None else Telecom(value, attr(element, "use"))


def read_gender(element: etree._Element | None, reader: Reader) -> AdministrativeGender | None:
    code = attr(element, "code")
    if code is None:
        return None
    try:
        gender = AdministrativeGender(code.upper())
    except ValueError:
        reader.quirk("unknown administrative gender code")
        return None
    if gender.value != code:
        reader.quirk("lower-case administrative gender code")
    return gender


_Birth = tuple[date | None, PartialDate | None, str | None]


def read_birth(value: str | None, reader: Reader) -> _Birth:
    """A birth time as (day, partial, raw): a calendar day, or a year / year-month :class:`PartialDate`;
    anything else is kept raw (and recorded as a quirk, not the value)."""
    if value is None:
        return None, None, None
    digits = value.strip()
    try:
        if len(digits) >= 8 and digits[:8].isascii() and digits[:8].isdigit():
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])), None, None
        if len(digits) in (4, 6) and digits.isascii() and digits.isdigit():
            month = int(digits[4:]) if len(digits) == 6 else None
            return None, PartialDate(int(digits[:4]), month), None
    except ValueError:  # also InvalidValueError from PartialDate
        pass
    reader.quirk("unreadable birth date")
    return None, None, value


def read_ids(elements: list[etree._Element], reader: Reader, where: str) -> tuple[Ii, ...]:
    ids = tuple(i for i in (reader.ii(e, where) for e in elements) if i is not None)
    if len(ids) < len(elements):
        reader.quirk(f"{where} without a usable root dropped")
    return ids


def _values(parameter_list: etree._Element, local: str) -> list[etree._Element]:
    return [v for p in children(parameter_list, local) for v in children(p, "value")]


def read_parameter_list(parameter_list: etree._Element, reader: Reader) -> Demographics:
    """The query's demographics; unknown parameters (birth place, mother's maiden name) are ignored."""
    genders = [
        g
        for g in (
            read_gender(v, reader) for v in _values(parameter_list, "livingSubjectAdministrativeGender")
        )
        if g
    ]
    births = [attr(v, "value") for v in _values(parameter_list, "livingSubjectBirthTime")]
    birth_date, birth_partial, birth_raw = read_birth(next((b for b in births if b), None), reader)
    telecoms = (read_telecom(v) for v in _values(parameter_list, "patientTelecom"))
    return Demographics(
        names=tuple(read_name(v, reader) for v in _values(parameter_list, "livingSubjectName")),
        gender=genders[0] if genders else None,
        birth_date=birth_date,
        birth_date_raw=birth_raw,
        birth_date_partial=birth_partial,
        addresses=tuple(read_addr(v) for v in _values(parameter_list, "patientAddress")),
        telecoms=tuple(t for t in telecoms if t is not None),
        identifiers=read_ids(_values(parameter_list, "livingSubjectId"), reader, "livingSubjectId"),
        principal_care_provider_ids=read_ids(
            _values(parameter_list, "principalCareProviderId"), reader, "principalCareProviderId"
        ),
    )


def read_person(person: etree._Element, reader: Reader) -> Demographics:
    """A match's ``patientPerson``: several names and addresses are normal; asOtherIDs become identifiers."""
    birth_date, birth_partial, birth_raw = read_birth(attr(child(person, "birthTime"), "value"), reader)
    telecoms = (read_telecom(t) for t in children(person, "telecom"))
    other_ids = [i for other in children(person, "asOtherIDs") for i in children(other, "id")]
    return Demographics(
        names=tuple(read_name(n, reader) for n in children(person, "name")),
        gender=read_gender(child(person, "administrativeGenderCode"), reader),
        birth_date=birth_date,
        birth_date_raw=birth_raw,
        birth_date_partial=birth_partial,
        addresses=tuple(read_addr(a) for a in children(person, "addr")),
        telecoms=tuple(t for t in telecoms if t is not None),
        identifiers=read_ids(other_ids, reader, "asOtherIDs"),
    )
