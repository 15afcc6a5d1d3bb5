"""The US Realm Header of the CCD: document metadata, recordTarget from the Patient, author, custodian."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer import codesystems
from fhir_facade.ccda.writer.datatypes import el, hl7_ts, put_ts
from fhir_facade.ccda.writer.model import Address, AuthoringDevice, Organization
from xca.errors import CcdaWriteError

__all__ = ["put_author", "put_custodian", "put_document_id", "put_record_target"]

RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ETHNICITY_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
CDC_RACE = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
BCP47 = "urn:ietf:bcp:47"

_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_GENDER = {"male": "M", "female": "F", "other": "UN"}
_NAME_USE = {"official": "L", "usual": "L", "nickname": "P", "anonymous": "PSEUD", "maiden": "BR"}
_ADDR_USE = {"home": "H", "work": "WP", "temp": "TMP", "billing": "PST"}
_TEL_USE = {"home": "HP", "work": "WP", "mobile": "MC", "temp": "TMP"}
_TEL_SCHEME = {"phone": "tel:", "fax": "fax:", "email": "mailto:", "url": ""}


def put_document_id(doc: etree._Element, document_id: str, custodian: Organization) -> None:
    """An OID or UUID document id is the root itself; anything else is an extension under the custodian."""
    if _OID.match(document_id) or _UUID.match(document_id):
        el(doc, "id", root=document_id)
    elif document_id.strip():
        el(doc, "id", root=custodian.oid, extension=document_id)
    else:
        raise CcdaWriteError("document_id is empty")


def put_record_target(doc: etree._Element, patient: dict[str, Any], id_root: str) -> None:
    role = el(el(doc, "recordTarget"), "patientRole")
    ids = [(oid, str(i["value"])) for i in patient.get("identifier") or [] if (oid := _identifier_oid(i))]
    if not ids:
        ids = [(id_root, f"Patient/{patient['id']}")]
    for root, extension in ids:
        el(role, "id", root=root, extension=extension)
    addresses = [a for a in patient.get("address") or [] if isinstance(a, dict)]
    for address in addresses:
        _put_fhir_address(role, address)
    if not addresses:
        el(role, "addr", nullFlavor="UNK")
    telecoms = [t for t in patient.get("telecom") or [] if isinstance(t, dict) and t.get("value")]
    for telecom in telecoms:
        scheme = _TEL_SCHEME.get(str(telecom.get("system")), "tel:")
        value = re.sub(r"\s+", "", str(telecom["value"]))
        el(
            role,
            "telecom",
            value=value if value.startswith(scheme) else scheme + value,
            use=_TEL_USE.get(str(telecom.get("use"))),
        )
    if not telecoms:
        el(role, "telecom", nullFlavor="UNK")
    _put_patient(el(role, "patient"), patient)


def _identifier_oid(identifier: Any) -> str | None:
    if not isinstance(identifier, dict) or not identifier.get("value") or not identifier.get("system"):
        return None
    return codesystems.oid_for(str(identifier["system"]))


def _put_patient(person: etree._Element, patient: dict[str, Any]) -> None:
    names = [
        n for n in patient.get("name") or [] if isinstance(n, dict) and (n.get("family") or n.get("given"))
    ]
    if not names:
        raise CcdaWriteError("the Patient has no name with a family or given part")
    for name in names:
        pn = el(person, "name", use=_NAME_USE.get(str(name.get("use"))))
        for prefix in name.get("prefix") or []:
            el(pn, "prefix", str(prefix))
        for given in name.get("given") or []:
            el(pn, "given", str(given))
        if name.get("family"):
            el(pn, "family", str(name["family"]))
        for suffix in name.get("suffix") or []:
            el(pn, "suffix", str(suffix))
    gender = _GENDER.get(str(patient.get("gender")))
    if gender:
        el(
            person,
            "administrativeGenderCode",
            code=gender,
            codeSystem="2.16.840.1.113883.5.1",
            codeSystemName="AdministrativeGender",
        )
    else:
        el(person, "administrativeGenderCode", nullFlavor="UNK")
    birth = patient.get("birthDate")
    put_ts(person, "birthTime", hl7_ts(birth, what="Patient.birthDate") if birth else None)
    if "deceasedDateTime" in patient:
        el(person, "sdtc:deceasedInd", value="true")
        el(person, "sdtc:deceasedTime", value=hl7_ts(patient["deceasedDateTime"], what="Patient.deceased"))
    elif "deceasedBoolean" in patient:
        el(person, "sdtc:deceasedInd", value="true" if patient["deceasedBoolean"] is True else "false")
    marital = patient.get("maritalStatus")
    for coding in (marital or {}).get("coding") or []:
        if coding.get("system") == "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus" and coding.get(
            "code"
        ):
            el(
                person,
                "maritalStatusCode",
                code=str(coding["code"]),
                codeSystem="2.16.840.1.113883.5.2",
                codeSystemName="MaritalStatus",
                displayName=coding.get("display"),
            )
            break
    _put_omb(person, patient, RACE_URL, "raceCode")
    _put_omb(person, patient, ETHNICITY_URL, "ethnicGroupCode")
    for communication in patient.get("communication") or []:
        for coding in (communication.get("language") or {}).get("coding") or []:
            if coding.get("system") == BCP47 and coding.get("code"):
                lc = el(person, "languageCommunication")
                el(lc, "languageCode", code=str(coding["code"]))
                if isinstance(communication.get("preferred"), bool):
                    el(lc, "preferenceInd", value=str(communication["preferred"]).lower())
                break


def _put_omb(person: etree._Element, patient: dict[str, Any], url: str, tag: str) -> None:
    """US Core race/ethnicity: the first OMB category as ``raceCode``, the rest as ``sdtc:raceCode``."""
    codes: list[dict[str, Any]] = []
    for extension in patient.get("extension") or []:
        if extension.get("url") != url:
            continue
        for part in extension.get("extension") or []:
            coding = part.get("valueCoding")
            if (
                part.get("url") in ("ombCategory", "detailed")
                and isinstance(coding, dict)
                and coding.get("code")
            ):
                codes.append(coding)
    if not codes:
        el(person, tag, nullFlavor="UNK")
        return
    for i, coding in enumerate(codes):
        name = tag if i == 0 else f"sdtc:{tag}"
        if coding.get("system") == NULL_FLAVOR:
            el(person, name, nullFlavor=str(coding["code"]))
        elif coding.get("system") == CDC_RACE:
            el(
                person,
                name,
                code=str(coding["code"]),
                codeSystem="2.16.840.1.113883.6.238",
                codeSystemName="CDC Race and Ethnicity",
                displayName=coding.get("display"),
            )
        else:
            raise CcdaWriteError(f"a {tag} coding is neither CDC Race and Ethnicity nor a null flavor")


def _put_fhir_address(parent: etree._Element, address: dict[str, Any]) -> None:
    addr = el(parent, "addr", use=_ADDR_USE.get(str(address.get("use"))))
    for line in address.get("line") or []:
        el(addr, "streetAddressLine", str(line))
    for key, tag in (
        ("city", "city"),
        ("state", "state"),
        ("postalCode", "postalCode"),
        ("country", "country"),
    ):
        if address.get(key):
            el(addr, tag, str(address[key]))


def _put_address(parent: etree._Element, address: Address) -> None:
    addr = el(parent, "addr", use="WP")
    for line in address.lines:
        el(addr, "streetAddressLine", line)
    el(addr, "city", address.city)
    el(addr, "state", address.state)
    el(addr, "postalCode", address.postal_code)
    el(addr, "country", address.country)


def _put_organization(parent: etree._Element, org: Organization) -> None:
    el(parent, "id", root=org.oid, extension=org.id_extension)
    el(parent, "name", org.name)
    el(parent, "telecom", value=org.telecom, use="WP")
    _put_address(parent, org.address)


def put_author(doc: etree._Element, org: Organization, device: AuthoringDevice, time: str) -> None:
    author = el(doc, "author")
    el(author, "time", value=time)
    assigned = el(author, "assignedAuthor")
    el(assigned, "id", root=org.oid, extension=device.software_name)
    _put_address(assigned, org.address)
    el(assigned, "telecom", value=org.telecom, use="WP")
    software = el(assigned, "assignedAuthoringDevice")
    el(software, "manufacturerModelName", device.manufacturer_model_name)
    el(software, "softwareName", device.software_name)
    _put_organization(el(assigned, "representedOrganization"), org)


def put_custodian(doc: etree._Element, org: Organization) -> None:
    holder = el(el(el(doc, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    _put_organization(holder, org)
