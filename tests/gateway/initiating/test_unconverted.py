"""A retrieved document that is not converted (a PDF, a C-CDA the converter refuses) is still in the patient's
record: described by a DocumentReference whose attachment matches the bytes, pointing at the record's
patient, served as the original through ``Binary``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference
from sqlalchemy import select

from gateway.initiating import JobState
from gateway.sandbox.documents import pdf_note
from gateway.store import Database, PullJobDocument
from tests.gateway.initiating.conftest import (
    HEALTHY,
    Network,
    import_directory,
    make_service,
    request_for,
)


def _described(bundle: dict[str, Any], unique_id: str) -> dict[str, Any]:
    found = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
        and e["resource"].get("masterIdentifier", {}).get("value") == f"urn:oid:{unique_id}"
    ]
    assert len(found) == 1, [e["resource"]["resourceType"] for e in bundle["entry"]]
    return found[0]


def test_a_pdf_and_a_refused_ccda_are_listed_in_the_record(network: Network, database: Database) -> None:
    node = network.nodes[HEALTHY]
    pdf = pdf_note("Scanned progress note", ["Synthetic test document. Not a real patient."])
    pdf_id = node.add_file(5, pdf, mime_type="application/pdf", title="Progress note (scanned)")
    refused = b"<?xml version='1.0'?><notACda/>"  # listed as a C-CDA; the converter refuses it
    refused_id = node.add_file(6, refused, mime_type="text/xml", title="Summary")
    import_directory(network, database)
    service = make_service(network, database)
    summary = asyncio.run(service.pull(request_for(network)))

    assert summary.state is JobState.DONE
    assert summary.counters.documents_retrieved == 4
    assert summary.counters.documents_converted == 2  # the two C-CDAs; the others are described
    assert summary.bundle is not None
    entries = [e["resource"] for e in summary.bundle["entry"]]
    patient = next(r for r in entries if r["resourceType"] == "Patient")
    for unique_id, content, media_type in (
        (pdf_id, pdf, "application/pdf"),
        (refused_id, refused, "text/xml"),
    ):
        described = _described(summary.bundle, unique_id)
        DocumentReference.model_validate(described)
        attachment = described["content"][0]["attachment"]
        assert attachment["contentType"] == media_type
        assert attachment["size"] == len(content)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(content).digest()).decode()
        assert described["subject"] == {"reference": f"urn:uuid:{patient['id']}"}
        assert described["custodian"]["identifier"]["value"] == f"urn:oid:{HEALTHY}"
    # Every bundle-relative reference in the record resolves to one of its resources.
    ids = {f"urn:uuid:{r['id']}" for r in entries}
    references = set(re.findall(r'"reference": "(urn:uuid:[^"]+)"', json.dumps(entries)))
    assert references
    assert references <= ids, references - ids
    described_pdf = _described(summary.bundle, pdf_id)
    assert described_pdf["description"] == "Progress note (scanned)"
    assert described_pdf["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    assert "format" not in _described(summary.bundle, refused_id)["content"][0]
    with database.session() as session:
        states = {
            d.unique_id: (d.state, d.error_code, d.resources)
            for d in session.scalars(select(PullJobDocument).where(PullJobDocument.job_id == summary.job_id))
        }
    assert states[pdf_id] == ("stored", None, 1)
    assert states[refused_id][0] == "stored"
    assert states[refused_id][1] is not None  # why it was not converted

    # Pulled again: nothing retrieved, the same record (the descriptions are not made twice).
    again = asyncio.run(service.pull(request_for(network)))
    assert again.bundle is not None
    assert again.counters.documents_retrieved == 0
    ids = sorted(e["resource"]["id"] for e in summary.bundle["entry"])
    assert sorted(e["resource"]["id"] for e in again.bundle["entry"]) == ids


def test_describing_the_same_document_twice_gives_the_same_resource() -> None:
    from fhir_facade.documents import describe_document

    given: dict[str, Any] = {
        "unique_id": "1.2.3.4.9.1",
        "media_type": "application/pdf",
        "home_community_id": "1.2.3.4",
        "community_name": "Clinic",
        "title": "Scan",
    }
    first = describe_document(b"%PDF-1.4 x", **given)
    assert describe_document(b"%PDF-1.4 x", **given) == first
    assert describe_document(b"%PDF-1.4 x", **{**given, "unique_id": "1.2.3.4.9.2"})["id"] != first["id"]
