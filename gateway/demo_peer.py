"""The demo's responding side: one synthetic community answering with the project's own wire code.

It parses what it receives as bytes with the responding-side parsers and answers with the responding-side
builders, exactly as the responding gateway will. What it does not have yet is patient matching: it holds one
seeded record and answers it when the family name and birth date are equal (the responding gateway milestone
brings real matching). All people and documents here are synthetic.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lxml import etree

from xca import iti38, iti39, iti55
from xca.errors import UnexpectedMessageError
from xca.ids import Cx
from xca.registry import ErrorSeverity, RegistryError, ResponseStatus, XdsErrorCode
from xca.soap import Action, Addressing, build_envelope, parse_envelope, to_bytes

__all__ = ["DemoPeer", "demo_demographics"]

LOINC = "2.16.840.1.113883.6.1"
SNOMED = "2.16.840.1.113883.6.96"
_HL7 = "urn:hl7-org:v3"
# XDS documents are immutable under their unique id: the demo document is the same bytes on every run.
_DOCUMENT_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def demo_demographics() -> iti55.Demographics:
    """The synthetic patient the demo asks for (not a real person)."""
    return iti55.Demographics(
        names=(iti55.PersonName(given=("Avery",), family="Demopatient", use="L"),),
        gender=iti55.AdministrativeGender.FEMALE,
        birth_date=date(1971, 2, 28),
        addresses=(iti55.Address(("100 Example Way",), "Springfield", "IL", "62701", "US", "H"),),
    )


def _synthetic_ccda(patient: Cx, when: datetime) -> bytes:
    """A small, well-formed C-CDA-shaped CCD: header and one narrative section."""
    doc = etree.Element(f"{{{_HL7}}}ClinicalDocument", nsmap={None: _HL7})
    etree.SubElement(
        doc, f"{{{_HL7}}}templateId", root="2.16.840.1.113883.10.20.22.1.2", extension="2015-08-01"
    )
    etree.SubElement(doc, f"{{{_HL7}}}id", root=str(uuid.uuid5(uuid.NAMESPACE_OID, patient.id)))
    etree.SubElement(
        doc, f"{{{_HL7}}}code", code="34133-9", codeSystem=LOINC, displayName="Summary of episode note"
    )
    etree.SubElement(doc, f"{{{_HL7}}}title").text = "Continuity of Care Document (synthetic demo)"
    etree.SubElement(doc, f"{{{_HL7}}}effectiveTime", value=when.strftime("%Y%m%d%H%M%S+0000"))
    target = etree.SubElement(etree.SubElement(doc, f"{{{_HL7}}}recordTarget"), f"{{{_HL7}}}patientRole")
    etree.SubElement(target, f"{{{_HL7}}}id", root=patient.root, extension=patient.id)
    section = etree.SubElement(
        etree.SubElement(
            etree.SubElement(etree.SubElement(doc, f"{{{_HL7}}}component"), f"{{{_HL7}}}structuredBody"),
            f"{{{_HL7}}}component",
        ),
        f"{{{_HL7}}}section",
    )
    etree.SubElement(section, f"{{{_HL7}}}code", code="48765-2", codeSystem=LOINC, displayName="Allergies")
    etree.SubElement(section, f"{{{_HL7}}}title").text = "Allergies"
    etree.SubElement(section, f"{{{_HL7}}}text").text = "No known drug allergies (synthetic)."
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class _Document:
    entry: iti38.DocumentEntry
    content: bytes


class DemoPeer:
    """A responding community: homeCommunityId, one patient, one document, answering real message bytes."""

    def __init__(self, *, home_community_id: str, now: datetime) -> None:
        self.home = home_community_id
        self.device = iti55.Device(
            f"{home_community_id}.1", home_community_id, "https://peer.demo.invalid/xcpd"
        )
        self.patient = Cx(id="DEMO-0001", root=f"{home_community_id}.2")
        self.repository = f"{home_community_id}.3"
        self.now = now
        content = _synthetic_ccda(self.patient, _DOCUMENT_TIME)
        self.document = _Document(
            entry=iti38.DocumentEntry(
                entry_uuid=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, self.patient.id + '/doc')}",
                unique_id=f"{home_community_id}.4.1",
                patient_id=self.patient,
                home_community_id=home_community_id,
                repository_unique_id=self.repository,
                mime_type="text/xml",
                size=len(content),
                hash=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
                creation_time=iti38.Dtm.of(_DOCUMENT_TIME, iti38.Precision.SECOND),
                title="Continuity of Care Document (synthetic demo)",
                language_code="en-US",
                class_code=iti38.Code("34133-9", LOINC, "Summary of episode note"),
                type_code=iti38.Code("34133-9", LOINC, "Summary of episode note"),
                format_code=iti38.Code(
                    "urn:hl7-org:sdwg:ccda-structuredBody:2.1", "1.3.6.1.4.1.19376.1.2.3", "C-CDA R2.1"
                ),
                confidentiality_codes=(iti38.Code("N", "2.16.840.1.113883.5.25", "normal"),),
                healthcare_facility_type_code=iti38.Code("35971002", SNOMED, "Ambulatory care site"),
                practice_setting_code=iti38.Code("408443003", SNOMED, "General medical practice"),
                source_patient_id=self.patient,
            ),
            content=content,
        )

    def _respond(self, body: etree._Element, action: Action, request: bytes) -> bytes:
        relates_to = parse_envelope(request).addressing.message_id
        return to_bytes(build_envelope(body, Addressing.response(action, relates_to=relates_to)))

    def _body(self, request: bytes) -> etree._Element:
        envelope = parse_envelope(request)
        if envelope.body is None:
            raise UnexpectedMessageError("request envelope has no payload")
        return envelope.body

    def answer_iti55(self, request: bytes) -> bytes:
        parsed = iti55.parse_iti55_request(self._body(request))
        asked = parsed.query.demographics
        mine = demo_demographics()
        same = asked.birth_date == mine.birth_date and {n.family for n in asked.names} & {"Demopatient"}
        matches = (
            (iti55.PatientMatch(iti55.Ii(self.patient.root, self.patient.id), self.home, mine, 100),)
            if same
            else ()
        )
        response = iti55.iti55_response_for(
            parsed,
            message_id=iti55.Ii(str(uuid.uuid4())),
            creation_time=self.now,
            responder=self.device,
            matches=matches,
        )
        return self._respond(iti55.build_iti55_response(response), Action.ITI55_RESPONSE, request)

    def answer_iti38(self, request: bytes) -> bytes:
        parsed = iti38.parse_iti38_request(self._body(request))
        if parsed.errors or parsed.request is None:
            response = iti38.QueryResponse(status=ResponseStatus.FAILURE, errors=parsed.errors)
        elif (
            isinstance(parsed.request.query, iti38.FindDocumentsQuery)
            and parsed.request.query.patient_id == self.patient
        ):
            response = iti38.QueryResponse(status=ResponseStatus.SUCCESS, documents=(self.document.entry,))
        else:
            unknown = RegistryError(
                XdsErrorCode.UNKNOWN_PATIENT_ID, "patient not known", ErrorSeverity.ERROR, self.home
            )
            response = iti38.QueryResponse(status=ResponseStatus.FAILURE, errors=(unknown,))
        return self._respond(iti38.build_iti38_response(response), Action.ITI38_RESPONSE, request)

    def answer_iti39(self, request: bytes) -> tuple[bytes, str]:
        parsed = iti39.parse_iti39_request(request, "application/soap+xml")
        entry = self.document.entry
        found = [
            iti39.RetrievedDocument(
                self.home, self.repository, entry.unique_id, entry.mime_type, self.document.content
            )
            for wanted in parsed.documents
            if wanted.document_unique_id == entry.unique_id and wanted.repository_unique_id == self.repository
        ]
        missing = [
            RegistryError(XdsErrorCode.MISSING_DOCUMENT, "document not found", ErrorSeverity.ERROR, self.home)
            for wanted in parsed.documents
            if wanted.document_unique_id != entry.unique_id
        ]
        built = iti39.build_iti39_response(
            found, errors=missing, transport=iti39.Transport.MTOM, home_community_id=self.home
        )
        relates_to = parsed.addressing.message_id if parsed.addressing else None
        envelope = build_envelope(
            built.body, Addressing.response(Action.ITI39_RESPONSE, relates_to=relates_to)
        )
        return iti39.to_http(envelope, built.attachments, transport=iti39.Transport.MTOM)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
