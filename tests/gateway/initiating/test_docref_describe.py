"""The DocumentReference of a document that is not converted carries the type and creation time its ITI-38
listing gave: the typeCode as ``type`` (code system OID as its FHIR URI), the creationTime as the attachment's
``creation`` at its own precision (as IHE MHD maps it). Odd values are left out, never invented around and
never a failure; every description is a valid R4B DocumentReference."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.documentreference import DocumentReference

from fhir_facade.documents import describe_document

LOINC = "2.16.840.1.113883.6.1"
PDF = b"%PDF-1.4 listed"


def _describe(**listed: str | None) -> dict[str, Any]:
    described = describe_document(
        PDF,
        unique_id="1.2.3.4.9.1",
        media_type="application/pdf",
        home_community_id="1.2.3.4",
        title="Scanned note",
        **listed,
    )
    DocumentReference.model_validate(described)
    return described


def test_type_and_date_of_the_listing() -> None:
    described = _describe(
        type_code="11506-3",
        type_code_system=LOINC,
        type_code_display="Progress note",
        creation_time="20240115093000",
    )
    assert described["type"] == {
        "coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]
    }
    assert described["content"][0]["attachment"]["creation"] == "2024-01-15T09:30:00Z"


@pytest.mark.parametrize(
    ("scheme", "system"),
    [
        ("1.3.6.1.4.1.99999.77", "urn:oid:1.3.6.1.4.1.99999.77"),
        (f"urn:oid:{LOINC}", "http://loinc.org"),
        (f"{LOINC}}}", "http://loinc.org"),  # stray brace at the end, as partners send
        ("2.16.840.1.113883.6.96", "http://snomed.info/sct"),
    ],
)
def test_a_coding_scheme_oid_becomes_its_fhir_uri(scheme: str, system: str) -> None:
    described = _describe(type_code="X-1", type_code_system=scheme, type_code_display=None)
    assert described["type"] == {"coding": [{"system": system, "code": "X-1"}]}


@pytest.mark.parametrize(
    ("dtm", "creation"),
    [
        ("2024", "2024"),
        ("202401", "2024-01"),
        ("20240115", "2024-01-15"),
        ("2024011509", None),  # hour: no FHIR dateTime has that precision; none is padded on
        ("202401150930", None),
        ("20240115093000", "2024-01-15T09:30:00Z"),
    ],
)
def test_the_creation_time_at_its_own_precision(dtm: str, creation: str | None) -> None:
    described = _describe(creation_time=dtm)
    assert described["content"][0]["attachment"].get("creation") == creation
    assert not {"date", "context"} & described.keys()


@pytest.mark.parametrize(
    "dtm",
    [
        "19849711",  # month 97
        "20230229",  # not a leap year
        "20240115246000",
        "2024-01-15",
        "20240115093000Z",
        "2024011",
        "0000",
        "\u0662\u0660\u0662\u0664",  # digits, but not ASCII ones
        "",
    ],
)
def test_an_impossible_creation_time_is_left_out(dtm: str) -> None:
    described = _describe(
        type_code="11506-3", type_code_system=LOINC, type_code_display="Progress note", creation_time=dtm
    )
    assert "creation" not in described["content"][0]["attachment"]
    assert described["type"]["coding"][0]["code"] == "11506-3"


@pytest.mark.parametrize(
    ("code", "scheme"),
    [
        ("11506-3", None),  # no codingScheme
        ("11506-3", "2.16.840.1x.113883.6.1"),  # junk inside the OID is never repaired
        ("11506-3", "LOINC"),
        ("11506-3", "urn:oid:"),
        ("11506  3", LOINC),  # not a FHIR code
        (" ", LOINC),
        (None, LOINC),
    ],
)
def test_an_unusable_type_code_keeps_only_its_display_name(code: str | None, scheme: str | None) -> None:
    described = _describe(
        type_code=code, type_code_system=scheme, type_code_display=" Progress note ", creation_time="2024"
    )
    assert described["type"] == {"text": "Progress note"}
    assert described["content"][0]["attachment"]["creation"] == "2024"
    without_display = _describe(type_code=code, type_code_system=scheme, type_code_display="  ")
    assert "type" not in without_display


def test_nothing_listed_changes_nothing() -> None:
    described = _describe()
    assert "type" not in described
    assert "creation" not in described["content"][0]["attachment"]
    assert described == _describe(
        type_code=None, type_code_system=None, type_code_display=None, creation_time=None
    )
