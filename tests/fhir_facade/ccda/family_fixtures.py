"""Builders of small C-CDA documents with Family History sections, shared by the family history tests."""

from __future__ import annotations

T = "2.16.840.1.113883.10.20.22."
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PATIENT_RECORD = "http://hl7.org/fhir/StructureDefinition/familymemberhistory-patient-record"
SECTION = (
    f'<templateId root="{T}2.15" extension="2015-08-01"/>'
    '<code code="10157-6" codeSystem="2.16.840.1.113883.6.1"/><title>Family history</title>'
)


def document(*sections: str, key: str = "fh", when: str = "20240301120000+0000") -> bytes:
    body = "".join(f"<component><section>{s}</section></component>" for s in sections)
    return (
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:sdtc="urn:hl7-org:sdtc">'
        '<templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>'
        f'<id root="1.2.3.4" extension="{key}"/><code code="34133-9" codeSystem="2.16.840.1.113883.6.1"/>'
        f'<effectiveTime value="{when}"/>'
        '<recordTarget><patientRole><id root="1.2.3" extension="p1"/>'
        "<patient><name><given>Ann</given><family>Fam</family></name></patient></patientRole></recordTarget>"
        f"<component><structuredBody>{body}</structuredBody></component></ClinicalDocument>"
    ).encode()


def relative(code: str | None = "FTH", *, details: str = "", display: str = "") -> str:
    if code is None:
        relationship = '<code nullFlavor="UNK"/>'
    else:
        shown = f' displayName="{display}"' if display else ""
        relationship = f'<code code="{code}" codeSystem="2.16.840.1.113883.5.111"{shown}/>'
    inner = f"<subject>{details}</subject>" if details else ""
    return f'<subject><relatedSubject classCode="PRS">{relationship}{inner}</relatedSubject></subject>'


def observation(
    value: str = "22298006",
    *,
    inside: str = "",
    negated: bool = False,
    time: str = "",
    status: str = "completed",
    obs_id: str = "",
    text: str = "",
) -> str:
    negation = ' negationInd="true"' if negated else ""
    ident = f'<id root="{obs_id}"/>' if obs_id else ""
    coded = (
        f'<value xsi:type="CD" code="{value}" codeSystem="2.16.840.1.113883.6.96"/>'
        if value and not value.startswith("<")
        else value
    )
    return (
        f'<component><observation classCode="OBS" moodCode="EVN"{negation}>'
        f'<templateId root="{T}4.46" extension="2015-08-01"/>{ident}'
        '<code code="64572001" codeSystem="2.16.840.1.113883.6.96"/>'
        f'{text}<statusCode code="{status}"/>{time}{coded}{inside}</observation></component>'
    )


def age(value: str, unit: str | None = "a", kind: str = "PQ") -> str:
    shown = f' unit="{unit}"' if unit is not None else ""
    return (
        '<entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN">'
        f'<templateId root="{T}4.31"/><code code="445518008" codeSystem="2.16.840.1.113883.6.96"/>'
        f'<statusCode code="completed"/><value xsi:type="{kind}" value="{value}"{shown}/>'
        "</observation></entryRelationship>"
    )


def death(*, negated: bool = False) -> str:
    negation = ' negationInd="true"' if negated else ""
    return (
        f'<entryRelationship typeCode="CAUS"><observation classCode="OBS" moodCode="EVN"{negation}>'
        f'<templateId root="{T}4.47"/><code code="ASSERTION" codeSystem="2.16.840.1.113883.5.4"/>'
        '<statusCode code="completed"/>'
        '<value xsi:type="CD" code="419099009" codeSystem="2.16.840.1.113883.6.96" displayName="Dead"/>'
        "</observation></entryRelationship>"
    )


def organizer(
    *components: str, subject: str | None = None, org_id: str = "org-1", status: str = "completed"
) -> str:
    ident = f'<id root="1.2.3.99" extension="{org_id}"/>' if org_id else '<id nullFlavor="NI"/>'
    state = f'<statusCode code="{status}"/>' if status else ""
    return (
        '<entry typeCode="DRIV"><organizer classCode="CLUSTER" moodCode="EVN">'
        f'<templateId root="{T}4.45" extension="2015-08-01"/>{ident}{state}'
        f"{relative() if subject is None else subject}{''.join(components)}</organizer></entry>"
    )
