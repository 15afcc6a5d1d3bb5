"""``DELETE /$pull-status/{job}``: 202 for a queued job (then the status URL is 404 saying it was cancelled),
404 for another tenant's or an unknown job, 409 for a finished one; audited with who cancelled."""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from gateway.audit import (
    ApiAccessEvent,
    AuditFilter,
    PullJobEvent,
    PullStage,
    iter_records,
    to_fhir_audit_event,
)
from gateway.directory import Selection, SelectionSpec
from gateway.initiating import JobState, JobStore, PullRequest
from gateway.store.demographics import demographics_from_json
from gateway.store.models import Patient, Tenant
from gateway.store.pull import PullJob, PullJobDocument
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, patient_json
from tests.gateway.initiating.conftest import user

SCOPES = "system/Patient.rs system/Patient.c system/Patient.$pull"


def _store(api: Api, tenant: Tenant) -> JobStore:
    context = api.app.state.api
    return JobStore(
        api.database, context.audit, tenant=tenant.slug, organization_name=tenant.name,
        assigning_authority=context.assigning_authority, home_community_id=context.home_community_id,
    )  # fmt: skip


def _job(api: Api, patient_id: str) -> tuple[JobStore, uuid.UUID]:
    """A queued job without gateways for ``patient_id`` (no worker runs it)."""
    with api.database.session() as session:
        patient = session.get(Patient, uuid.UUID(patient_id))
        assert patient is not None
        tenant = session.get(Tenant, patient.tenant_id)
        assert tenant is not None
        session.expunge(tenant)
        demographics = demographics_from_json(patient.demographics)
    store = _store(api, tenant)
    request = PullRequest(demographics=demographics, user=user(), patient_id=patient.id)
    return store, store.create_job(request, Selection(SelectionSpec(), ()))


def _issue(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


def test_delete_cancels_and_status_then_says_so(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    bob = api.register("bob-app", rsa_key, tenant="clinic-b", scopes=SCOPES)
    reader = api.register("reader-app", rsa_key, scopes="system/Patient.rs")
    a = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    b = {**FHIR_JSON_HEADERS, "X-API-Key": bob.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=a)
    assert created.status_code == 201, created.text
    store, job = _job(api, created.json()["id"])
    url = f"/$pull-status/{job}"

    assert api.http.request("DELETE", url, headers=b).status_code == 404  # another tenant's
    unknown = uuid.uuid4()
    assert api.http.request("DELETE", f"/$pull-status/{unknown}", headers=a).status_code == 404
    assert api.http.request("DELETE", "/$pull-status/not-a-job", headers=a).status_code == 404
    refused = api.http.request("DELETE", url, headers={**FHIR_JSON_HEADERS, "X-API-Key": reader.api_key})
    assert refused.status_code == 403
    assert api.http.get(url, headers=a).status_code == 202  # still queued

    cancelled = api.http.request("DELETE", url, headers=a)
    assert cancelled.status_code == 202, cancelled.text
    assert "cancelled" in _issue(cancelled)
    status = api.http.get(url, headers=a)
    assert status.status_code == 404
    assert "was cancelled" in _issue(status)
    assert api.http.request("DELETE", url, headers=a).status_code == 404
    assert store.reports(job)[0] is JobState.CANCELLED

    with api.database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic-a"))
        assert tenant is not None
        records = list(iter_records(session, tenant, AuditFilter()))
        of_job = [r.event for r in iter_records(session, tenant, AuditFilter(job=str(job)))]
    events = [r.event for r in records]
    # `hiegate audit search --job`: the job's own records and the API requests about it
    assert [e.operation for e in of_job if isinstance(e, ApiAccessEvent)] == [
        "$pull-status", "$pull-cancel", "$pull-status", "$pull-cancel",
    ]  # fmt: skip
    (cancel,) = [e for e in events if isinstance(e, PullJobEvent) and "HG-6204" in e.error_codes]
    assert cancel.job_id == str(job)
    assert cancel.stage is PullStage.CANCELLED
    assert cancel.requestor.user_id == "alice-app-user"
    # Each request about the job is audited with the status its caller got, the job's patient as the
    # resource and the job as the job (the id as typed when there is no such job).
    patient = created.json()["id"]
    accesses = [
        (e.operation, e.http_status, e.resource_id, e.job_id)
        for e in events
        if isinstance(e, ApiAccessEvent) and e.operation in ("$pull-status", "$pull-cancel")
    ]
    assert accesses == [
        ("$pull-cancel", 404, None, str(unknown)),
        ("$pull-cancel", 404, None, "not-a-job"),
        ("$pull-status", 202, patient, str(job)),
        ("$pull-cancel", 202, patient, str(job)),
        ("$pull-status", 404, patient, str(job)),
        ("$pull-cancel", 404, patient, str(job)),
    ]
    about_job = next(r for r in records if isinstance(r.event, ApiAccessEvent) and r.event.job_id == str(job))
    exported = to_fhir_audit_event(about_job, api.app.state.api.audit.source)
    assert {"value": str(job)} in [entity["what"].get("identifier") for entity in exported["entity"]]
    assert f"Patient/{patient}" in [entity["what"].get("reference") for entity in exported["entity"]]


def test_delete_of_a_finished_job_is_a_conflict(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    a = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=a)
    store, job = _job(api, created.json()["id"])
    store.complete(job, [], wall_ms=0)
    refused = api.http.request("DELETE", f"/$pull-status/{job}", headers=a)
    assert refused.status_code == 409
    assert refused.json()["issue"][0]["code"] == "conflict"
    assert api.http.get(f"/$pull-status/{job}", headers=a).status_code == 200


def test_a_job_named_in_any_form_uuid_reads_is_audited_as_recorded(
    api: Api, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The status URL takes the job id as UUID() reads it (upper case, braces, urn:uuid:, no hyphens); the
    audit names it as jobs are recorded, so a search for the job finds every request about it."""
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    a = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=a)
    _, job = _job(api, created.json()["id"])
    forms = [str(job).upper(), f"{{{job}}}", job.hex, f"urn:uuid:{job}"]
    for form in forms:
        assert api.http.get(f"/$pull-status/{form}", headers=a).status_code == 202
    assert api.http.request("DELETE", f"/$pull-status/{job.hex.upper()}", headers=a).status_code == 202
    with api.database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic-a"))
        assert tenant is not None
        found = [r.event for r in iter_records(session, tenant, AuditFilter(job=str(job)))]
    about = [(e.operation, e.job_id) for e in found if isinstance(e, ApiAccessEvent)]
    assert about == [("$pull-status", str(job))] * len(forms) + [("$pull-cancel", str(job))]


def test_the_progress_of_a_running_job_counts_the_documents_already_held(
    api: Api, rsa_key: rsa.RSAPrivateKey
) -> None:
    """A pull again finds what an earlier one stored: its X-Progress says those are held, not "0/2
    retrieved" for the whole run."""
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    a = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=a)
    _, job = _job(api, created.json()["id"])
    url = f"/$pull-status/{job}"
    assert api.http.get(url, headers=a).headers["X-Progress"].endswith("0/0 documents retrieved")
    with api.database.session() as session, session.begin():
        for number, reused in ((1, True), (2, True), (3, False)):
            session.add(
                PullJobDocument(
                    job_id=job, home_community_id="1.2.3", repository_id="1.2.3.1",
                    unique_id=f"1.2.3.9.{number}", state="stored" if reused else "found", reused=reused,
                    mime_type="text/xml",
                )
            )  # fmt: skip
        row = session.get(PullJob, job)
        assert row is not None
        row.documents_found = 3
    progress = api.http.get(url, headers=a).headers["X-Progress"]
    assert progress.endswith("0/3 documents retrieved (2 already held)"), progress
