"""FHIR AuditEvent export follows BALP and validates against the fhir.resources R4B model."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

from gateway.audit import AuditSource, StoredRecord, to_fhir_audit_event, write_ndjson
from gateway.audit.fhir import BALP
from tests.gateway.audit.factories import FAMILY_NAME, LOCAL, REMOTE_ENDPOINT, T0, every_path, iti39, iti55

PATHS = every_path()


def _stored(event: object, seq: int = 7) -> StoredRecord:
    return StoredRecord(
        tenant_id=1,
        tenant="clinic",
        seq=seq,
        recorded_at=T0,
        prev_hash="0" * 64,
        hash="a" * 64,
        event=event,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_path_validates_as_r4b_audit_event(path: str, source: AuditSource) -> None:
    resource = to_fhir_audit_event(_stored(PATHS[path]), source)
    model = FhirAuditEvent.model_validate(resource)
    assert model.outcome == str(int(PATHS[path].outcome))
    assert resource["source"]["observer"]["display"] == source.source_id


def _agent(resource: dict[str, object], code: str) -> dict[str, object]:
    agents = resource["agent"]
    assert isinstance(agents, list)
    (found,) = [a for a in agents if any(c["code"] == code for c in a["type"]["coding"])]
    return found  # type: ignore[no-any-return]


def test_iti55_query_follows_the_balp_patterns(source: AuditSource) -> None:
    resource = to_fhir_audit_event(_stored(iti55()), source)
    assert resource["type"]["code"] == "110112"
    assert {
        "system": "urn:ihe:event-type-code",
        "code": "ITI-55",
        "display": "Cross Gateway Patient Discovery",
    } in resource["subtype"]
    assert resource["action"] == "E"
    assert BALP + "IHE.BasicAudit.SAMLaccessTokenUse.Comprehensive" in resource["meta"]["profile"]
    assert _agent(resource, "110152")["network"] == {"address": REMOTE_ENDPOINT, "type": "5"}
    assert _agent(resource, "110153")["who"]["identifier"]["value"] == f"urn:oid:{source.home_community_id}"
    user = _agent(resource, "UserSamlAgent")
    assert user["requestor"] is True
    assert user["policy"] == ["_a1b2c3"]
    assert {e["valueIdentifier"]["value"] for e in user["extension"]} == {"Gregory House", "1234567893"}
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "TREATMENT"
    assert _agent(resource, "PROV")["who"]["identifier"]["value"].startswith("urn:oid:")
    assert _agent(resource, "homeCommunityId")["requestor"] is False
    roles = [(e["type"]["code"], e.get("role", {}).get("code")) for e in resource["entity"]]
    assert ("1", "1") in roles
    assert ("2", "24") in roles
    query = next(e for e in resource["entity"] if e.get("role", {}).get("code") == "24")
    assert FAMILY_NAME in base64.b64decode(query["query"]).decode()
    patient = next(e for e in resource["entity"] if e["type"]["code"] == "1")
    assert patient["what"]["identifier"]["value"] in (LOCAL.value, "RMT-4410-SECRET")


def test_iti39_is_import_on_the_initiating_side_and_export_on_the_responding_side(
    source: AuditSource,
) -> None:
    from gateway.audit import Direction

    pulled = to_fhir_audit_event(_stored(iti39(Direction.INITIATING)), source)
    sent = to_fhir_audit_event(_stored(iti39(Direction.RESPONDING)), source)
    assert (pulled["type"]["code"], pulled["action"]) == ("110107", "C")
    assert (sent["type"]["code"], sent["action"]) == ("110106", "R")
    assert BALP + "IHE.BasicAudit.PrivacyDisclosure.Recipient" in pulled["meta"]["profile"]
    assert BALP + "IHE.BasicAudit.PrivacyDisclosure.Source" in sent["meta"]["profile"]
    documents = [e for e in pulled["entity"] if e.get("role", {}).get("code") == "3"]
    assert [d["what"]["identifier"]["value"] for d in documents] == ["1.2.3.4.100", "1.2.3.4.101"]
    assert {"type": "Repository Unique Id", "valueString": "1.2.3.4.9"} in documents[0]["detail"]


def test_api_search_claims_balp_patient_query(source: AuditSource) -> None:
    resource = to_fhir_audit_event(_stored(PATHS["api-search-type"]), source)
    assert resource["meta"]["profile"] == [BALP + "IHE.BasicAudit.PatientQuery"]
    read = to_fhir_audit_event(_stored(PATHS["api-read"]), source)
    assert read["meta"]["profile"] == [BALP + "IHE.BasicAudit.PatientRead"]
    assert any(e.get("what", {}).get("reference") == "Observation/obs-1" for e in read["entity"])


def test_ndjson_export_loads_line_by_line(source: AuditSource) -> None:
    out = io.BytesIO()
    records = [_stored(event, seq) for seq, event in enumerate(PATHS.values(), start=1)]
    assert write_ndjson(records, out, source) == len(records)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(records)
    ids = [FhirAuditEvent.model_validate(orjson.loads(line)).id for line in lines]
    assert len(set(ids)) == len(ids)
