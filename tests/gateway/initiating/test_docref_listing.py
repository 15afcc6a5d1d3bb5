"""The type and creation time an ITI-38 listing gives a document travel with it: kept on its job row when the
listing is recorded (odd values read as the tolerant parser leaves them, nothing failing for them), carried to
its description, and shown in the patient's record by the DocumentReference of a PDF a pull brought back."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference
from lxml import etree
from sqlalchemy import select

from gateway.audit import Transaction
from gateway.initiating import JobState
from gateway.initiating.documents import convert_document
from gateway.initiating.jobs.plans import DocumentToConvert
from gateway.initiating.models import PullRequest
from gateway.responding import DocumentDefaults, entry_from_ccda
from gateway.sandbox.documents import pdf_note
from gateway.store import Database, PullJobDocument
from tests.gateway.initiating.conftest import (
    HEALTHY,
    Network,
    import_directory,
    make_service,
    request_for,
    synthetic_ccd,
)
from tests.gateway.initiating.test_steps_core import (
    DEMOGRAPHICS,
    USER,
    G,
    _match,
    _record,
    _remote,
    _selection,
    _store,
)
from xca import iti38
from xca.ids import Cx
from xca.registry import ResponseStatus

LOINC = "2.16.840.1.113883.6.1"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
REMOTE = Cx("R0", f"{G[0]}.5")


def _listed(number: int, **overrides: Any) -> iti38.DocumentEntry:
    """A complete DocumentEntry of gateway 0, listed as a PDF."""
    unique_id = f"{G[0]}.9.{number}"
    entry = entry_from_ccda(
        synthetic_ccd(number, G[0], unique_id), REMOTE, DocumentDefaults(G[0], f"{G[0]}.9")
    )
    return replace(
        entry,
        entry_uuid=f"urn:uuid:{uuid.UUID(int=number)}",
        unique_id=unique_id,
        mime_type="application/pdf",
        **overrides,
    )


def _slot_values(element: etree._Element, name: str) -> list[etree._Element]:
    return element.findall(f"{{{RIM}}}Slot[@name='{name}']/{{{RIM}}}ValueList/{{{RIM}}}Value")


def _on_the_wire(*entries: iti38.DocumentEntry, odd: dict[str, dict[str, str | None]]) -> iti38.QueryResponse:
    """The listing as a partner sends it: built, then given the odd ``creationTime`` and ``codingScheme``
    values of ``odd`` (by uniqueId; None removes the slot), and parsed as the initiating side does."""
    payload = iti38.build_iti38_response(iti38.QueryResponse(ResponseStatus.SUCCESS, documents=entries))
    for extrinsic in payload.iter(f"{{{RIM}}}ExtrinsicObject"):
        (identifier,) = extrinsic.findall(
            f"{{{RIM}}}ExternalIdentifier[@identificationScheme='{iti38.ExternalIdentifierScheme.UNIQUE_ID}']"
        )
        changes = odd.get(str(identifier.get("value")), {})
        if "creationTime" in changes:
            _slot_values(extrinsic, "creationTime")[0].text = changes["creationTime"]
        if "codingScheme" in changes:
            scheme = changes["codingScheme"]
            typed = extrinsic.find(
                f"{{{RIM}}}Classification[@classificationScheme='{iti38.ClassificationScheme.TYPE_CODE}']"
            )
            assert typed is not None
            if scheme is None:
                typed.remove(typed.find(f"{{{RIM}}}Slot[@name='codingScheme']"))
            else:
                _slot_values(typed, "codingScheme")[0].text = scheme
    return iti38.parse_iti38_response(etree.tostring(payload))


def _described(row: PullJobDocument) -> dict[str, Any]:
    """The description of ``row``'s document as the conversion thread makes it from the job's row."""
    held = DocumentToConvert(
        row.id, uuid.uuid4(), row.mime_type, row.home_community_id, row.unique_id, row.title, False,
        type_code=row.type_code, type_code_system=row.type_code_system,
        type_code_display=row.type_code_display, creation_time=row.creation_time,
    )  # fmt: skip
    done = convert_document(b"%PDF-1.4 listed", held, "Gateway 0")
    (resource,) = done.resources
    DocumentReference.model_validate(resource)
    return resource


def test_the_listing_s_type_and_creation_time_reach_the_description(database: Database) -> None:
    progress = iti38.Code("11506-3", LOINC, "Progress note")
    good, impossible, zoned, junk = (_listed(n, type_code=progress) for n in (1, 2, 3, 4))
    good = replace(good, creation_time=iti38.Dtm.parse("20240115093000"))
    junk = replace(junk, type_code=iti38.Code("34133-9", "1.2.3x4", "Summary of episode note"))
    listing = _on_the_wire(
        good,
        impossible,
        zoned,
        junk,
        odd={
            impossible.unique_id: {"creationTime": "19849711", "codingScheme": None},
            zoned.unique_id: {"creationTime": "20240115093000.25+0100", "codingScheme": f"urn:oid:{LOINC}}}"},
            junk.unique_id: {"creationTime": "20240115"},
        },
    )
    store = _store(database)
    job_id = store.create_job(PullRequest(demographics=DEMOGRAPHICS, user=USER), _selection([0]))
    store.claim(job_id)
    outcomes = store.run_steps(
        job_id,
        [
            store.discovery_step(G[0], user=USER, record=_record(0, Transaction.ITI_55), decision=_match(0),
                                 error=None, remote=_remote(0), demographics=DEMOGRAPHICS),
            store.query_step(G[0], user=USER, record=_record(1, Transaction.ITI_38), response=listing,
                             error=None, remote=_remote(0), patient=REMOTE),
        ],
    )  # fmt: skip
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    with database.session() as session:
        rows = {
            r.unique_id: r
            for r in session.scalars(select(PullJobDocument).where(PullJobDocument.job_id == job_id))
        }
        kept = {
            u: (r.type_code, r.type_code_system, r.type_code_display, r.creation_time)
            for u, r in rows.items()
        }
        described = {u: _described(r) for u, r in rows.items()}
    assert kept == {
        good.unique_id: ("11506-3", LOINC, "Progress note", "20240115093000"),
        impossible.unique_id: (None, None, None, None),  # the parser dropped both
        zoned.unique_id: ("11506-3", f"urn:oid:{LOINC}}}", "Progress note", "20240115083000"),
        junk.unique_id: ("34133-9", "1.2.3x4", "Summary of episode note", "20240115"),
    }
    loinc = {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]}
    assert described[good.unique_id]["type"] == loinc
    assert _created(described[good.unique_id]) == "2024-01-15T09:30:00Z"
    assert "type" not in described[impossible.unique_id]
    assert _created(described[impossible.unique_id]) is None
    assert described[zoned.unique_id]["type"] == loinc
    assert _created(described[zoned.unique_id]) == "2024-01-15T08:30:00Z"  # in UTC
    assert described[junk.unique_id]["type"] == {"text": "Summary of episode note"}
    assert _created(described[junk.unique_id]) == "2024-01-15"  # a day stays a day


def _created(described: dict[str, Any]) -> Any:
    return described["content"][0]["attachment"].get("creation")


def _record_entry(bundle: dict[str, Any], unique_id: str) -> dict[str, Any]:
    (found,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
        and e["resource"].get("masterIdentifier", {}).get("value") == f"urn:oid:{unique_id}"
    ]
    DocumentReference.model_validate(found)
    return dict(found)


def test_a_pulled_pdf_is_described_with_its_listed_type_and_date(
    network: Network, database: Database
) -> None:
    node = network.nodes[HEALTHY]
    scanned = node.add_file(
        5,
        pdf_note("Scanned progress note", ["Synthetic test document. Not a real patient."]),
        mime_type="application/pdf",
        title="Progress note (scanned)",
        type_code=iti38.Code("11506-3", LOINC, "Progress note"),
        creation_time=iti38.Dtm.parse("20240115093000"),
    )
    local = node.add_file(
        6,
        pdf_note("Referral letter", ["Synthetic test document. Not a real patient."]),
        mime_type="application/pdf",
        title="Referral",
        type_code=iti38.Code("REF-1", "1.3.6.1.4.1.99999.77", "Referral letter"),
        creation_time=iti38.Dtm.parse("20240116"),
    )
    import_directory(network, database)
    summary = asyncio.run(make_service(network, database).pull(request_for(network)))

    assert summary.state is JobState.DONE
    assert summary.bundle is not None
    described = _record_entry(summary.bundle, scanned)
    assert described["type"] == {
        "coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]
    }
    assert _created(described) == "2024-01-15T09:30:00Z"
    referral = _record_entry(summary.bundle, local)
    assert referral["type"] == {
        "coding": [{"system": "urn:oid:1.3.6.1.4.1.99999.77", "code": "REF-1", "display": "Referral letter"}]
    }
    assert _created(referral) == "2024-01-16"  # only a day was listed
