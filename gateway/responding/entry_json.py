"""JSON form of an XDS :class:`~xca.iti38.DocumentEntry` (the ``clinic_document.metadata`` column).

Plain JSON types only, so the column reads back the same on SQLite and PostgreSQL; date/times keep their
stated precision as HL7 DTM text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xca.ids import Cx
from xca.iti38 import Author as XdsAuthor
from xca.iti38 import AvailabilityStatus, DocumentEntry, Dtm, EntryType
from xca.iti38 import Code as XdsCode

__all__ = ["entry_from_json", "entry_to_json"]


def _code(code: XdsCode | None) -> dict[str, str | None] | None:
    return None if code is None else {"code": code.code, "scheme": code.scheme, "display": code.display}


def _read_code(data: Mapping[str, Any] | None) -> XdsCode | None:
    return None if data is None else XdsCode(data["code"], data["scheme"], data.get("display"))


def _cx(cx: Cx | None) -> list[str] | None:
    return None if cx is None else [cx.id, cx.root]


def _read_cx(data: list[str] | None) -> Cx | None:
    return None if data is None else Cx(data[0], data[1])


def _dtm(value: Dtm | None) -> str | None:
    return None if value is None else value.to_hl7()


def _read_dtm(text: str | None) -> Dtm | None:
    return None if text is None else Dtm.parse(text)


def entry_to_json(entry: DocumentEntry) -> dict[str, Any]:
    return {
        "entry_uuid": entry.entry_uuid,
        "unique_id": entry.unique_id,
        "patient_id": _cx(entry.patient_id),
        "home_community_id": entry.home_community_id,
        "repository_unique_id": entry.repository_unique_id,
        "mime_type": entry.mime_type,
        "entry_type": entry.entry_type.value,
        "availability_status": entry.availability_status.value if entry.availability_status else None,
        "size": entry.size,
        "hash": entry.hash,
        "creation_time": _dtm(entry.creation_time),
        "service_start_time": _dtm(entry.service_start_time),
        "service_stop_time": _dtm(entry.service_stop_time),
        "language_code": entry.language_code,
        "title": entry.title,
        "comments": entry.comments,
        "source_patient_id": _cx(entry.source_patient_id),
        "class_code": _code(entry.class_code),
        "type_code": _code(entry.type_code),
        "format_code": _code(entry.format_code),
        "healthcare_facility_type_code": _code(entry.healthcare_facility_type_code),
        "practice_setting_code": _code(entry.practice_setting_code),
        "confidentiality_codes": [_code(c) for c in entry.confidentiality_codes],
        "event_codes": [_code(c) for c in entry.event_codes],
        "authors": [
            {
                "person": a.person,
                "institutions": list(a.institutions),
                "roles": list(a.roles),
                "specialties": list(a.specialties),
                "telecommunications": list(a.telecommunications),
            }
            for a in entry.authors
        ],
    }


def entry_from_json(data: Mapping[str, Any]) -> DocumentEntry:
    status = data.get("availability_status")
    return DocumentEntry(
        entry_uuid=data["entry_uuid"],
        unique_id=data["unique_id"],
        patient_id=_read_cx(data.get("patient_id")),
        home_community_id=data.get("home_community_id"),
        repository_unique_id=data.get("repository_unique_id"),
        mime_type=data.get("mime_type") or "application/octet-stream",
        entry_type=EntryType(data.get("entry_type") or EntryType.STABLE.value),
        availability_status=AvailabilityStatus(status) if status else None,
        size=data.get("size"),
        hash=data.get("hash"),
        creation_time=_read_dtm(data.get("creation_time")),
        service_start_time=_read_dtm(data.get("service_start_time")),
        service_stop_time=_read_dtm(data.get("service_stop_time")),
        language_code=data.get("language_code"),
        title=data.get("title"),
        comments=data.get("comments"),
        source_patient_id=_read_cx(data.get("source_patient_id")),
        class_code=_read_code(data.get("class_code")),
        type_code=_read_code(data.get("type_code")),
        format_code=_read_code(data.get("format_code")),
        healthcare_facility_type_code=_read_code(data.get("healthcare_facility_type_code")),
        practice_setting_code=_read_code(data.get("practice_setting_code")),
        confidentiality_codes=tuple(c for c in map(_read_code, data.get("confidentiality_codes") or ()) if c),
        event_codes=tuple(c for c in map(_read_code, data.get("event_codes") or ()) if c),
        authors=tuple(
            XdsAuthor(
                person=a.get("person"),
                institutions=tuple(a.get("institutions") or ()),
                roles=tuple(a.get("roles") or ()),
                specialties=tuple(a.get("specialties") or ()),
                telecommunications=tuple(a.get("telecommunications") or ()),
            )
            for a in data.get("authors") or ()
        ),
    )
