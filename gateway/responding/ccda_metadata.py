"""XDS DocumentEntry metadata read from a C-CDA header (HL7 CDA R2 header; IHE ITI TF-3 4.2.3.2; the IHE
format-code value set for C-CDA; HL7 C-CDA R2.1 US Realm Header).

``typeCode`` is the document's LOINC ``code``; ``classCode`` its LOINC document class where the small table
below knows it, else the type code itself (what most responders send for C-CDA). Facility type and practice
setting come from ``componentOf/encompassingEncounter`` when present, else from the gateway's defaults.
:func:`demographics_from_ccda` reads the ``recordTarget`` for loading a patient together with a document.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from lxml import etree

from xca.errors import InvalidValueError, NotClinicalDocumentError
from xca.ids import Cx
from xca.iti38 import Author, Code, DocumentEntry, Dtm
from xca.iti38.dtm import read_dtm
from xca.iti55 import Address, AdministrativeGender, Demographics, PersonName, Telecom
from xca.safexml import parse_xml

__all__ = ["DocumentDefaults", "demographics_from_ccda", "entry_from_ccda"]

_V3: Final = "urn:hl7-org:v3"
_NS: Final = {"v3": _V3}
LOINC: Final = "2.16.840.1.113883.6.1"
SNOMED: Final = "2.16.840.1.113883.6.96"
_FORMAT_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.3"
_CONFIDENTIALITY_SYSTEM: Final = "2.16.840.1.113883.5.25"
_US_REALM_HEADER: Final = "2.16.840.1.113883.10.20.22.1.1"
# Document type (LOINC) → document class (LOINC), for the common C-CDA document types.
_CLASS_OF_TYPE: Final = {
    "34133-9": ("34133-9", "Summarization of Episode Note"),
    "18842-5": ("18842-5", "Discharge summary"),
    "11488-4": ("11488-4", "Consultation note"),
    "34117-2": ("34117-2", "History and physical note"),
    "11506-3": ("11506-3", "Progress note"),
    "57133-1": ("57133-1", "Referral note"),
    "28570-0": ("28570-0", "Procedure note"),
    "18748-4": ("18748-4", "Diagnostic imaging study"),
}


@dataclass(frozen=True)
class DocumentDefaults:
    """Values a C-CDA header does not carry: where the document is kept and the organization's codes."""

    home_community_id: str
    repository_unique_id: str
    healthcare_facility_type: Code = field(
        default_factory=lambda: Code("35971002", SNOMED, "Ambulatory care site")
    )
    practice_setting: Code = field(
        default_factory=lambda: Code("408443003", SNOMED, "General medical practice")
    )
    language: str = "en-US"


def _root(content: bytes) -> etree._Element:
    root = parse_xml(content)
    if root.tag != f"{{{_V3}}}ClinicalDocument":
        raise NotClinicalDocumentError(
            "not a CDA ClinicalDocument", detail={"root": etree.QName(root).localname}
        )
    return root


def _attr(root: etree._Element, path: str, name: str) -> str | None:
    found = root.xpath(f"{path}/@{name}", namespaces=_NS)
    value = str(found[0]).strip() if isinstance(found, list) and found else ""
    return value or None


def _text(root: etree._Element, path: str) -> str | None:
    found = root.find(path, _NS)
    text = " ".join("".join(found.itertext()).split()) if found is not None else ""
    return text or None


def _time(root: etree._Element, path: str) -> Dtm | None:
    value = _attr(root, path, "value")
    return read_dtm(value).value if value else None


def _format_code(root: etree._Element) -> Code:
    body = "nonXMLBody" if root.find("v3:component/v3:nonXMLBody", _NS) is not None else "structuredBody"
    version = _attr(root, f"v3:templateId[@root='{_US_REALM_HEADER}']", "extension")
    release = "2.1" if version and version >= "2015-08-01" else "1.1"
    return Code(f"urn:hl7-org:sdwg:ccda-{body}:{release}", _FORMAT_SYSTEM, f"C-CDA R{release} {body}")


def _author(root: etree._Element) -> tuple[Author, ...]:
    organization = root.find("v3:author/v3:assignedAuthor/v3:representedOrganization", _NS)
    person = root.find("v3:author/v3:assignedAuthor/v3:assignedPerson/v3:name", _NS)
    institutions: tuple[str, ...] = ()
    if organization is not None:
        name = _text(organization, "v3:name")
        oid = _attr(organization, "v3:id", "root")
        if name:
            institutions = (f"{name}^^^^^^^^^{oid}" if oid else name,)
    person_text = None
    if person is not None:
        family, given = _text(person, "v3:family"), _text(person, "v3:given")
        person_text = f"^{family or ''}^{given or ''}^^^" if family or given else None
    if not institutions and person_text is None:
        return ()
    return (Author(person=person_text, institutions=institutions),)


def _unique_id(root: etree._Element) -> str:
    oid, extension = _attr(root, "v3:id", "root"), _attr(root, "v3:id", "extension")
    if not oid:
        raise InvalidValueError("the ClinicalDocument has no id/@root to use as the document uniqueId")
    return f"{oid}^{extension}" if extension else oid


def entry_from_ccda(content: bytes, patient: Cx, defaults: DocumentDefaults) -> DocumentEntry:
    """A complete stable DocumentEntry for ``content``, filed under ``patient`` (our id)."""
    root = _root(content)
    code, system = _attr(root, "v3:code", "code"), _attr(root, "v3:code", "codeSystem")
    if not code or not system:
        raise InvalidValueError("the ClinicalDocument has no document type code")
    type_code = Code(code, system, _attr(root, "v3:code", "displayName"))
    class_pair = _CLASS_OF_TYPE.get(code) if system == LOINC else None
    class_code = Code(class_pair[0], LOINC, class_pair[1]) if class_pair else type_code
    confidentiality = _attr(root, "v3:confidentialityCode", "code") or "N"
    facility = _attr(root, "v3:componentOf//v3:healthCareFacility/v3:code", "code")
    facility_system = _attr(root, "v3:componentOf//v3:healthCareFacility/v3:code", "codeSystem")
    return DocumentEntry(
        entry_uuid=f"urn:uuid:{uuid.uuid4()}",
        unique_id=_unique_id(root),
        patient_id=patient,
        home_community_id=defaults.home_community_id,
        repository_unique_id=defaults.repository_unique_id,
        mime_type="text/xml",
        size=len(content),
        hash=hashlib.sha1(content, usedforsecurity=False).hexdigest(),  # XDS hash is SHA-1 by definition
        creation_time=_time(root, "v3:effectiveTime"),
        service_start_time=_time(root, "v3:documentationOf/v3:serviceEvent/v3:effectiveTime/v3:low"),
        service_stop_time=_time(root, "v3:documentationOf/v3:serviceEvent/v3:effectiveTime/v3:high"),
        language_code=_attr(root, "v3:languageCode", "code") or defaults.language,
        title=(_text(root, "v3:title") or type_code.display or "Clinical document")[:1024],
        source_patient_id=patient,
        class_code=class_code,
        type_code=type_code,
        format_code=_format_code(root),
        healthcare_facility_type_code=Code(facility, facility_system)
        if facility and facility_system
        else defaults.healthcare_facility_type,
        practice_setting_code=defaults.practice_setting,
        confidentiality_codes=(Code(confidentiality, _CONFIDENTIALITY_SYSTEM),),
        authors=_author(root),
    )


def demographics_from_ccda(content: bytes) -> Demographics:
    """The patient of ``recordTarget``: names, gender, birth date, addresses and telecoms."""
    role = _root(content).find("v3:recordTarget/v3:patientRole", _NS)
    if role is None:
        raise InvalidValueError("the ClinicalDocument has no recordTarget/patientRole")
    person = role.find("v3:patient", _NS)
    names = tuple(
        PersonName(
            given=tuple(g.text.strip() for g in n.findall("v3:given", _NS) if g.text),
            family=_text(n, "v3:family"),
            use=n.get("use"),
        )
        for n in (person.findall("v3:name", _NS) if person is not None else [])
    )
    gender_code = _attr(role, "v3:patient/v3:administrativeGenderCode", "code")
    birth = _attr(role, "v3:patient/v3:birthTime", "value")
    addresses = tuple(
        Address(
            street_lines=tuple(s.text.strip() for s in a.findall("v3:streetAddressLine", _NS) if s.text),
            city=_text(a, "v3:city"),
            state=_text(a, "v3:state"),
            postal_code=_text(a, "v3:postalCode"),
            country=_text(a, "v3:country"),
            use=a.get("use"),
        )
        for a in role.findall("v3:addr", _NS)
    )
    telecoms = tuple(Telecom(t.get("value", ""), t.get("use")) for t in role.findall("v3:telecom", _NS))
    return Demographics(
        names=tuple(n for n in names if n.given or n.family),
        gender=AdministrativeGender(gender_code) if gender_code in ("M", "F", "UN") else None,
        birth_date=date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
        if birth and len(birth) >= 8
        else None,
        addresses=addresses,
        telecoms=tuple(t for t in telecoms if t.value),
    )
