"""The second half of the API end to end: $pull against an in-process sandbox of three gateways, its
status, the webhook, $everything, the type searches, Binary, tenant isolation, audit, and the bulk export
round trip."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import select

from certs import init_dev_pki
from fhir_facade.api import create_app
from fhir_facade.api.background import WebhookPolicy, event_id, set_webhook, sign
from fhir_facade.api.pull_parameters import parse_parameters
from gateway.directory import import_communities, parse_directory
from gateway.initiating import EventKind
from gateway.sandbox import Sandbox, SandboxConfig, run_sandbox
from gateway.store import Database
from gateway.store.api_jobs import ApiExport, ApiWebhookDelivery
from gateway.store.models import RawDocument, Tenant
from gateway.store.pull import PullJob, PullJobDocument
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, AsgiClient, api_settings

SCOPES = "system/*.read system/Patient.c system/Patient.$pull system/AuditEvent.rs"
SECRET = "whsec-test"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    pki = tmp_path_factory.mktemp("api-pki")
    init_dev_pki(pki)
    config = SandboxConfig(
        gateways=3,
        patients=2,
        seed=11,
        folder=tmp_path_factory.mktemp("api-sandbox"),
        certs_dir=pki,
        pdf=True,
    )
    with run_sandbox(config) as running:
        yield running


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    failures = 2

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Hook.failures > 0:
            Hook.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hook_server() -> Iterator[str]:
    Hook.received, Hook.failures = [], 2
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _person_json(person: dict[str, Any]) -> dict[str, Any]:
    address = person.get("address") or {}
    return {
        "resourceType": "Patient",
        "name": [{"family": person["family"], "given": str(person["given"]).split()}],
        "gender": "male" if person["gender"] == "M" else "female",
        "birthDate": person["birth_date"],
        "address": [
            {k: v for k, v in {"line": address.get("line"), "city": address.get("city"),
             "state": address.get("state"), "postalCode": address.get("postalCode")}.items() if v}
        ],
    }  # fmt: skip


def _wait(http: AsgiClient, url: str, headers: dict[str, str], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        response = http.get(url, headers=headers)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        assert "x-progress" in response.headers
        assert response.headers["retry-after"]
        time.sleep(0.2)


def _pages(http: AsgiClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    resources = []
    next_url: str | None = url
    while next_url:
        response = http.get(next_url.removeprefix("http://hiegate.test"), headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        Bundle.model_validate(bundle)
        resources += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        next_url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return resources


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="purposeOfUse is required"):
        parse_parameters({"resourceType": "Parameters"})
    with pytest.raises(ValueError, match="not a known"):
        parse_parameters({"parameter": [{"name": "purposeOfUse", "valueCode": "NOPE"}]})
    parsed = parse_parameters({"parameter": [
        {"name": "purposeOfUse", "valueCoding": {"code": "TREATMENT"}},
        {"name": "period", "valuePeriod": {"start": "2020-01-01", "end": "2024-12-31"}},
        {"name": "gateway", "valueIdentifier": {"value": "urn:oid:1.2.3"}},
    ]})  # fmt: skip
    assert parsed.gateways == ("1.2.3",)
    assert parsed.purpose.value == "TREATMENT"
    # A Period's end includes its day: the pull asks for documents created before the day after.
    assert (parsed.date_from, parsed.date_to) == (dt.date(2020, 1, 1), dt.date(2025, 1, 1))
    one_day = parse_parameters({"parameter": [
        {"name": "purposeOfUse", "valueCode": "TREATMENT"},
        {"name": "period", "valuePeriod": {"start": "2024-05-01", "end": "2024-05-01"}},
    ]})  # fmt: skip
    assert (one_day.date_from, one_day.date_to) == (dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    open_ended = parse_parameters({"parameter": [
        {"name": "purposeOfUse", "valueCode": "TREATMENT"},
        {"name": "period", "valuePeriod": {"start": "2024-05-01", "end": "9999-12-31"}},
    ]})  # fmt: skip
    assert (open_ended.date_from, open_ended.date_to) == (dt.date(2024, 5, 1), None)


def test_pull_record_binary_export_end_to_end(
    sandbox: Sandbox,
    database: Database,
    tmp_path: Path,
    database_url: str,
    hook_server: str,
    api: Api,
    rsa_key: Any,
) -> None:
    # The record is published at the end only: the one webhook event below is the completion (the early
    # record's event is checked on its own at the end).
    settings = api_settings(
        tmp_path, database_url, certs_dir=sandbox.config.certs_dir, pull_early_record=False
    )
    app = create_app(settings, database=database, migrate=False, webhooks=WebhookPolicy(first_delay=0.05))
    http = AsgiClient(app)
    parsed = parse_directory(sandbox.directory_path.read_bytes())
    with database.session() as session, session.begin():
        import_communities(session, parsed.communities, source="sandbox")
    api.app, api.http = app, http
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    bob = api.register("bob-app", rsa_key, tenant="clinic-b", scopes=SCOPES)
    set_webhook(database, "alice-app", hook_server, SECRET)
    a = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    b = {**FHIR_JSON_HEADERS, "X-API-Key": bob.api_key}
    person = sandbox.patients[0]
    created = http.post("/Patient", json=_person_json(person), headers=a)
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]

    body = {"resourceType": "Parameters", "parameter": [{"name": "purposeOfUse", "valueCode": "TREATMENT"}]}
    assert http.post(f"/Patient/{patient_id}/$pull", json=body, headers=b).status_code == 404
    wrong = {"resourceType": "Parameters", "parameter": [{"name": "purposeOfUse", "valueCode": "OPERATIONS"}]}
    assert http.post(f"/Patient/{patient_id}/$pull", json=wrong, headers=a).status_code == 403
    kicked = http.post(f"/Patient/{patient_id}/$pull", json=body, headers=a)
    assert kicked.status_code == 202, kicked.text
    status_url = kicked.headers["content-location"]
    job = status_url.rsplit("/", 1)[1]
    done = _wait(http, status_url.removeprefix("http://hiegate.test"), a)
    assert done.status_code == 200, done.text
    Parameters.model_validate(done.json())
    params = {p["name"]: p for p in done.json()["parameter"]}
    assert params["status"]["valueCode"] == "done"
    assert params["everything"]["valueUri"].endswith(f"/Patient/{patient_id}/$everything")
    outcomes = [p for p in done.json()["parameter"] if p["name"] == "gateway"]
    assert len(outcomes) == 3
    assert http.get(f"/$pull-status/{job}", headers=b).status_code == 404

    record = _pages(http, f"/Patient/{patient_id}/$everything?_count=20", a)
    types = {r["resourceType"] for r in record}
    assert {"Patient", "Provenance", "Condition"} <= types, types
    assert len({(r["resourceType"], r["id"]) for r in record}) == len(record)
    assert [r["id"] for r in record if r["resourceType"] == "Patient"] == [patient_id]
    subjects = {(r.get("subject") or r.get("patient") or {}).get("reference") for r in record}
    assert subjects - {None} == {f"Patient/{patient_id}"}  # the record is about the registered patient
    served = {f"{r['resourceType']}/{r['id']}" for r in record}
    targets = {t["reference"] for r in record if r["resourceType"] == "Provenance" for t in r["target"]}
    assert targets <= served  # Provenance targets resolve on this server
    # Every reference in the record can be followed: each resource reads by id as $everything showed it.
    referenced = set(re.findall(r'"reference": "([A-Za-z]+/[^"/]+)"', json.dumps(record)))
    assert referenced <= served, referenced - served
    for resource in record:
        if resource["resourceType"] == "Patient":
            continue
        path = f"/{resource['resourceType']}/{resource['id']}"
        read = http.get(path, headers=a)
        assert read.status_code == 200, (path, read.text)
        assert read.json() == resource
    condition = next(r for r in record if r["resourceType"] == "Condition")
    assert http.get(f"/Condition/{condition['id']}", headers=b).status_code == 404  # another tenant
    missing = http.get("/Condition/no-such-id", headers=a)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"
    capability = http.get("/metadata", headers=FHIR_JSON_HEADERS).json()
    interactions = {
        r["type"]: {i["code"] for i in r.get("interaction", ())} for r in capability["rest"][0]["resource"]
    }
    assert {"read", "search-type"} <= interactions["Condition"]
    assert "read" in interactions["Organization"]
    assert http.get(f"/Patient/{patient_id}/$everything", headers=b).status_code == 404
    only = _pages(http, f"/Patient/{patient_id}/$everything?_type=Condition", a)
    assert {r["resourceType"] for r in only} <= {"Condition"}

    observations = [r for r in record if r["resourceType"] == "Observation"]
    found = _pages(http, f"/Observation?patient=Patient/{patient_id}&_count=2", a)
    assert sorted(r["id"] for r in found) == sorted(r["id"] for r in observations)
    if observations:
        coding = observations[0]["code"]["coding"][0]
        by_code = _pages(
            http, f"/Observation?patient={patient_id}&code={coding['system']}|{coding['code']}", a
        )
        assert by_code
        assert all(any(c.get("code") == coding["code"] for c in r["code"]["coding"]) for r in by_code)
        assert _pages(http, f"/Observation?patient={patient_id}&date=lt1900", a) == []
    for name in ("Condition", "Provenance", "DocumentReference"):
        subset = _pages(http, f"/{name}?patient={patient_id}&_count=1", a)
        assert len(subset) == sum(1 for r in record if r["resourceType"] == name)
    empty = http.get(f"/Condition?patient={patient_id}", headers=b).json()
    assert empty["total"] == 0

    with database.session() as session:
        docs = session.execute(
            select(RawDocument.id, RawDocument.mime_type, PullJobDocument.sha1)
            .join(PullJobDocument, PullJobDocument.raw_document_id == RawDocument.id)
        ).all()  # fmt: skip
    assert docs
    for raw_id, mime, sha1 in docs:
        original = http.get(f"/Binary/{raw_id}", headers={"X-API-Key": alice.api_key})
        assert original.status_code == 200
        assert original.headers["content-type"].startswith(mime)
        if sha1:
            assert hashlib.sha1(original.content).hexdigest().lower() == sha1.lower()
        assert http.get(f"/Binary/{raw_id}", headers={"X-API-Key": bob.api_key}).status_code == 404
    # Each document the record describes leads to its original: attachment.url is Binary/{id} here.
    described = [r for r in record if r["resourceType"] == "DocumentReference"]
    assert len(described) == len(docs)
    for reference in described:
        attachment = reference["content"][0]["attachment"]
        assert attachment["url"].startswith("Binary/"), attachment
        original = http.get(f"/{attachment['url']}", headers={"X-API-Key": alice.api_key})
        assert original.status_code == 200
        assert len(original.content) == attachment["size"]
        assert base64.b64encode(hashlib.sha1(original.content).digest()).decode() == attachment["hash"]

    kick = http.get(
        "/Patient/$export?_type=Patient,Condition,Provenance", headers={**a, "Prefer": "respond-async"}
    )
    assert kick.status_code == 202, kick.text
    assert http.get("/Patient/$export", headers=a).status_code == 400
    export_url = kick.headers["content-location"].removeprefix("http://hiegate.test")
    assert http.get(export_url, headers=b).status_code == 404
    manifest = _wait(http, export_url, a)
    assert manifest.status_code == 200, manifest.text
    body_m = manifest.json()
    assert body_m["requiresAccessToken"] is True
    assert body_m["error"] == []
    assert {o["type"] for o in body_m["output"]} == {"Patient", "Condition", "Provenance"}
    for output in body_m["output"]:
        file = http.get(output["url"].removeprefix("http://hiegate.test"), headers=a)
        assert file.headers["content-type"].startswith("application/fhir+ndjson")
        lines = file.content.splitlines()
        assert len(lines) == output["count"]
        from fhir.resources.R4B import get_fhir_model_class

        for line in lines:
            data = orjson.loads(line)
            assert data["resourceType"] == output["type"]
            get_fhir_model_class(output["type"]).model_validate(data)
        assert http.get(output["url"].removeprefix("http://hiegate.test"), headers=b).status_code == 404
    group = http.get("/Group/all/$export", headers={**a, "Prefer": "respond-async"})
    assert group.status_code == 202
    assert http.get("/Group/other/$export", headers={**a, "Prefer": "respond-async"}).status_code == 404
    assert http.request("DELETE", export_url, headers=a).status_code == 202
    assert http.get(export_url, headers=a).status_code == 404

    deadline = time.monotonic() + 20
    while not Hook.received and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(Hook.received) == 1
    headers, raw = Hook.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-HieGateway-Signature"] == expected
    assert headers["X-HieGateway-Timestamp"].isdigit()
    event = orjson.loads(raw)
    assert event["id"] == event_id(uuid.UUID(job), "done") == headers["X-HieGateway-Event-Id"]
    assert event["type"] == "pull.completed"
    assert (event["job"], event["patient"], event["status"]) == (job, patient_id, "done")
    assert event["counts"]["gatewaysSelected"] == 3
    with database.session() as session:
        delivery = session.get(ApiWebhookDelivery, event["id"])
        assert delivery is not None
        assert delivery.attempts == 3  # failed twice, then accepted
        assert delivery.delivered_at is not None
    assert app.state.worker._store_event(uuid.UUID(job)) is None  # observed again: the same event, not resent
    # A record published before the job ends has its own event, stored once, only while the job runs.
    worker = app.state.worker
    ready, updated = EventKind.RECORD_READY, EventKind.RECORD_UPDATED
    assert worker._store_event(uuid.UUID(job), record=ready) is None  # finished: the completion says it all
    with database.session() as session, session.begin():
        running = session.get(PullJob, uuid.UUID(job))
        assert running is not None
        running.state, running.record_ms = "retrieving", 1234
        converted = running.documents_converted
    early = worker._store_event(uuid.UUID(job), record=ready)
    assert early == event_id(uuid.UUID(job), "record-ready")
    assert worker._store_event(uuid.UUID(job), record=ready) is None
    # Late gateways' documents merged: one event per state of the record, each stored once.
    grown = worker._store_event(uuid.UUID(job), record=updated)
    assert grown == event_id(uuid.UUID(job), f"record-updated:{converted}")
    assert worker._store_event(uuid.UUID(job), record=updated) is None
    with database.session() as session, session.begin():
        running = session.get(PullJob, uuid.UUID(job))
        assert running is not None
        running.documents_converted = converted + 1
    again = worker._store_event(uuid.UUID(job), record=updated)
    assert again == event_id(uuid.UUID(job), f"record-updated:{converted + 1}")
    with database.session() as session, session.begin():
        stored = session.get(ApiWebhookDelivery, early)
        assert stored is not None
        assert orjson.loads(stored.body)["type"] == "pull.record-ready"
        for identifier in (grown, again):
            stored = session.get(ApiWebhookDelivery, identifier)
            assert stored is not None
            assert orjson.loads(stored.body)["type"] == "pull.record-updated"
        restored = session.get(PullJob, uuid.UUID(job))
        assert restored is not None
        restored.state = "done"

    audit = http.get(f"/AuditEvent?patient=Patient/{patient_id}&_count=500", headers=a).json()
    queries = {
        entity.get("description", "")
        for entry in audit["entry"]
        for entity in entry["resource"].get("entity", [])
        if "description" in entity
    }
    assert any("_count=2" in q and "patient=" in q for q in queries)  # the Observation search
    assert any(q.startswith("_type=Condition") for q in queries)  # $everything with _type
    # The job's trail: its lifecycle and every exchange it made (3 gateways asked: 3 ITI-55 at least).
    by_job = http.get(f"/AuditEvent?entity={job}&_count=500", headers=a).json()
    subtypes = [c["code"] for e in by_job["entry"] for c in e["resource"].get("subtype", ())]
    assert subtypes.count("ITI-55") >= 3, subtypes
    on_patient = http.get(f"/AuditEvent?entity=Patient/{patient_id}&_count=100", headers=a).json()
    assert on_patient["total"] >= 4  # create, $pull, $everything (twice)
    raw_id = docs[0][0]
    # Read twice by alice: by its id, then through its DocumentReference's attachment.
    assert http.get(f"/AuditEvent?entity=Binary/{raw_id}", headers=a).json()["total"] == 2
    refused = http.get(f"/AuditEvent?entity=Binary/{raw_id}", headers=b).json()
    assert refused["total"] == 1  # bob's attempt, in bob's own trail, as a failure
    assert refused["entry"][0]["resource"]["outcome"] == "4"
    first = audit["entry"][0]["resource"]
    read = http.get(f"/AuditEvent/{first['id']}", headers=a)
    assert read.status_code == 200
    assert read.json()["id"] == first["id"]
    assert http.get(f"/AuditEvent/{first['id']}", headers=b).status_code == 404
    app.state.worker.close()


def test_unfinished_exports_resume_when_the_app_starts(
    api: Api, database: Database, tmp_path: Path, database_url: str, rsa_key: Any
) -> None:
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    assert api.http.post("/Patient", json=_person_json({
        "family": "Resume", "given": "Ann", "gender": "F", "birth_date": "1970-01-02",
    }), headers=headers).status_code == 201  # fmt: skip
    export_id = uuid.uuid4()
    with database.session() as session, session.begin():
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic-a"))
        assert tenant is not None
        from gateway.store.api import ApiClient

        client = session.scalar(select(ApiClient).where(ApiClient.client_id == "alice-app"))
        assert client is not None
        session.add(ApiExport(
            id=export_id, tenant_id=tenant.id, client_pk=client.id, state="running",
            request_url="http://hiegate.test/Patient/$export", types="Patient",
        ))  # fmt: skip
    restarted = create_app(api_settings(tmp_path, database_url), database=database, migrate=False)
    try:
        manifest = _wait(AsgiClient(restarted), f"/$export-status/{export_id}", headers, seconds=20)
        assert manifest.status_code == 200, manifest.text
        (output,) = manifest.json()["output"]
        assert (output["type"], output["count"]) == ("Patient", 1)
    finally:
        restarted.state.worker.close()


def test_webhook_registration_is_checked(api: Api, rsa_key: Any) -> None:
    api.register("alice-app", rsa_key, scopes=SCOPES)
    with pytest.raises(ValueError, match="https"):
        set_webhook(api.database, "alice-app", "http://example.org/hook", SECRET)
    with pytest.raises(ValueError, match="secret"):
        set_webhook(api.database, "alice-app", "https://example.org/hook", "short")
    with pytest.raises(ValueError, match="no client"):
        set_webhook(api.database, "nobody", "https://example.org/hook", SECRET)
    set_webhook(api.database, "alice-app", "https://example.org/hook", SECRET)
    assert sign("k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
