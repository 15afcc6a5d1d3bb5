"""A 403 (an authenticated client asking for a scope or a purpose of use it does not hold) is audited as an
API access refused, under the client's tenant, with what it asked for; a 401 (no valid credentials: no
tenant to file it under) is answered and only logged."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from gateway.audit import ApiAccessEvent, AuditFilter, Outcome, iter_records
from gateway.store.models import Tenant
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, patient_json

PULLER = "system/Patient.rs system/Patient.c system/Patient.$pull"


def _accesses(api: Api) -> list[ApiAccessEvent]:
    with api.database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic-a"))
        assert tenant is not None
        return [
            r.event
            for r in iter_records(session, tenant, AuditFilter())
            if isinstance(r.event, ApiAccessEvent)
        ]


def test_a_refused_scope_or_purpose_is_audited(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    puller = api.register("puller-app", rsa_key, scopes=PULLER)
    reader = api.register("reader-app", rsa_key, scopes="system/Patient.rs")
    p = {**FHIR_JSON_HEADERS, "X-API-Key": puller.api_key}
    r = {**FHIR_JSON_HEADERS, "X-API-Key": reader.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=p)
    assert created.status_code == 201, created.text
    patient = created.json()["id"]
    before = len(_accesses(api))

    body = {"resourceType": "Parameters", "parameter": [{"name": "purposeOfUse", "valueCode": "TREATMENT"}]}
    no_scope = api.http.post(f"/Patient/{patient}/$pull", json=body, headers=r)
    assert no_scope.status_code == 403
    assert api.http.get("/AuditEvent", headers=r).status_code == 403  # no AuditEvent scope
    payment = {"resourceType": "Parameters", "parameter": [{"name": "purposeOfUse", "valueCode": "PAYMENT"}]}
    assert api.http.post(f"/Patient/{patient}/$pull", json=payment, headers=p).status_code == 403  # purpose

    events = _accesses(api)[before:]
    refused = [
        (e.requestor.user_id, e.interaction.value, e.resource_type, e.operation, e.resource_id, e.http_status)
        for e in events
    ]
    assert refused == [
        ("reader-app-user", "operation", "Patient", "$pull", patient, 403),
        ("reader-app-user", "search-type", "AuditEvent", None, None, 403),
        ("puller-app-user", "operation", "Patient", "$pull", patient, 403),
    ]
    assert {(e.outcome, e.error_codes) for e in events} == {(Outcome.MINOR_FAILURE, ("HG-9102",))}


def test_a_request_without_valid_credentials_is_not_audited(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    api.register("reader-app", rsa_key, scopes="system/Patient.rs")
    before = len(_accesses(api))
    answer = api.http.get("/Patient", headers={**FHIR_JSON_HEADERS, "X-API-Key": "hgk_notarealkey"})
    assert answer.status_code == 401
    assert len(_accesses(api)) == before
