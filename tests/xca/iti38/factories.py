"""Model factories for the ITI-38 tests: invented, PHI-free identifiers and codes."""

from __future__ import annotations

from datetime import UTC, datetime

from xca.ids import Cx
from xca.iti38 import (
    Author,
    AvailabilityStatus,
    Code,
    DocumentEntry,
    Dtm,
    EntryType,
    FindDocumentsQuery,
    Precision,
)

HOME = "2.16.840.1.113883.3.9999.1"
REPOSITORY = "2.16.840.1.113883.3.9999.1.2"
PATIENT = Cx(id="PAT-0001", root="2.16.840.1.113883.3.9999.1.1")
LOINC = "2.16.840.1.113883.6.1"


def full_find_documents() -> FindDocumentsQuery:
    """FindDocuments with every standard parameter set."""
    return FindDocumentsQuery(
        patient_id=PATIENT,
        statuses=(AvailabilityStatus.APPROVED, AvailabilityStatus.DEPRECATED),
        class_codes=(Code("11369-6", LOINC), Code("34133-9", LOINC)),
        type_codes=(Code("34133-9", LOINC),),
        practice_setting_codes=(Code("408443003", "2.16.840.1.113883.6.96"),),
        healthcare_facility_type_codes=(Code("22232009", "2.16.840.1.113883.6.96"),),
        format_codes=(Code("urn:hl7-org:sdwg:ccda-structuredBody:2.1", "1.3.6.1.4.1.19376.1.2.3"),),
        event_codes=((Code("E1", "1.2.3.4"), Code("E2", "1.2.3.4")), (Code("E3", "1.2.3.4"),)),
        confidentiality_codes=((Code("N", "2.16.840.1.113883.5.25"),),),
        author_persons=("%Welby%", "O'Brien^Pat"),
        creation_time_from=Dtm.parse("20200101"),
        creation_time_to=Dtm.parse("20241231235959"),
        service_start_time_from=Dtm.parse("2019"),
        service_start_time_to=Dtm.parse("202406"),
        service_stop_time_from=Dtm.parse("2019010112"),
        service_stop_time_to=Dtm.parse("201901011230"),
        entry_types=(EntryType.STABLE, EntryType.ON_DEMAND),
    )


def full_entry(index: int = 1, *, entry_type: EntryType = EntryType.STABLE) -> DocumentEntry:
    """A DocumentEntry with every modelled attribute set."""
    return DocumentEntry(
        entry_uuid=f"urn:uuid:0f1e2d3c-4b5a-4697-8a8b-{index:012d}",
        unique_id=f"2.16.840.1.113883.3.9999.1.3.{index}",
        patient_id=PATIENT,
        home_community_id=HOME,
        repository_unique_id=REPOSITORY,
        mime_type="text/xml",
        entry_type=entry_type,
        availability_status=AvailabilityStatus.APPROVED,
        size=None if entry_type is EntryType.ON_DEMAND else 1024 * index,
        hash=None if entry_type is EntryType.ON_DEMAND else "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        creation_time=Dtm.of(datetime(2023, 5, 17, 14, 30, 5, tzinfo=UTC)),
        service_start_time=Dtm.parse("20230517"),
        service_stop_time=Dtm.of(datetime(2023, 5, 17, 15, 0, tzinfo=UTC), Precision.MINUTE),
        language_code="en-US",
        title=f"Continuity of Care Document {index}",
        comments="Summary with <angle> & 'quotes'",
        source_patient_id=Cx(id="LOCAL-77", root="2.16.840.1.113883.3.9999.7"),
        class_code=Code("34133-9", LOINC, "Summary of episode note"),
        type_code=Code("34133-9", LOINC, "Summary of episode note"),
        format_code=Code("urn:hl7-org:sdwg:ccda-structuredBody:2.1", "1.3.6.1.4.1.19376.1.2.3", "C-CDA 2.1"),
        healthcare_facility_type_code=Code("22232009", "2.16.840.1.113883.6.96", "Hospital"),
        practice_setting_code=Code("408443003", "2.16.840.1.113883.6.96", "General medical practice"),
        confidentiality_codes=(Code("N", "2.16.840.1.113883.5.25", "normal"),),
        event_codes=(Code("PCPR", "2.16.840.1.113883.5.4", "care provision"), Code("E2", "1.2.3.4", None)),
        authors=(
            Author(
                person="^Welby^Marcus^^^Dr^^^&2.16.840.1.113883.4.6&ISO",
                institutions=("Example Clinic^^^^^^^^^2.16.840.1.113883.3.9999",),
                roles=("Attending",),
                specialties=("Internal medicine",),
                telecommunications=("^^Internet^welby@example.org",),
            ),
            Author(institutions=("Second Clinic",)),
        ),
    )
