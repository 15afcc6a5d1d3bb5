"""Every access to patient data is audited; AuditEvent search, NDJSON export, accounting of disclosures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fhir.resources.R4B.auditevent import AuditEvent as R4BAuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import select

from gateway.audit import (
    ApiAccessEvent,
    AuditFilter,
    Direction,
    DocumentRef,
    Outcome,
    PatientId,
    RemotePeer,
    Requestor,
    Transaction,
    TransactionEvent,
    iter_records,
)
from gateway.store import Tenant
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json


def _api_events(api: Api, slug: str) -> list[ApiAccessEvent]:
    with api.database.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        return [
            r.event
            for r in iter_records(session, tenant, AuditFilter())
            if isinstance(r.event, ApiAccessEvent)
        ]


def _create(api: Api, client: Registered, **kwargs: Any) -> dict[str, Any]:
    response = api.http.post(
        "/Patient", json=patient_json(**kwargs), headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_each_patient_access_is_audited(api: Api, alice: Registered) -> None:
    patient = _create(api, alice)
    key = {"X-API-Key": alice.api_key}
    api.http.get(f"/Patient/{patient['id']}", headers=key)
    api.http.get("/Patient?family=love", headers=key)
    api.http.get("/Patient/00000000-0000-4000-8000-000000000000", headers=key)
    events = _api_events(api, "clinic-a")
    assert [(e.interaction.value, e.http_status, e.outcome) for e in events] == [
        ("create", 201, Outcome.SUCCESS),
        ("read", 200, Outcome.SUCCESS),
        ("search-type", 200, Outcome.SUCCESS),
        ("read", 404, Outcome.MINOR_FAILURE),
    ]
    assert events[1].resource_id == patient["id"]
    assert events[1].patients
    assert events[1].patients == events[2].patients
    assert events[2].query == "family=love"
    assert all(e.requestor.user_id == "alice-app-user" for e in events)
    assert all(
        e.server_endpoint and e.server_endpoint.startswith("http://hiegate.test/Patient") for e in events
    )


def test_refused_requests_touch_no_data_and_write_no_record(api: Api, alice: Registered) -> None:
    _create(api, alice)
    api.http.post("/Patient", content=b"{", headers={**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key})
    api.http.get("/Patient?bogus=1", headers={"X-API-Key": alice.api_key})
    assert len(_api_events(api, "clinic-a")) == 1


def _search(api: Api, client: Registered, query: str) -> dict[str, Any]:
    response = api.http.get(f"/AuditEvent?{query}", headers={"X-API-Key": client.api_key})
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    Bundle.model_validate(bundle)
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] == "match":
            R4BAuditEvent.model_validate(entry["resource"])
    return bundle


def _subtypes(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["subtype"][0]["code"] for e in bundle.get("entry", [])]


def test_audit_event_search(api: Api, alice: Registered, bob: Registered) -> None:
    ada = _create(api, alice)
    other = _create(api, alice, family="Babbage", identifiers=(("http://clinic-a.example/mrn", "B-1"),))
    key = {"X-API-Key": alice.api_key}
    api.http.get(f"/Patient/{ada['id']}", headers=key)
    api.http.get("/Patient/00000000-0000-4000-8000-000000000000", headers=key)

    everything = _search(api, alice, "")
    assert everything["total"] == 4
    assert _subtypes(everything) == ["read", "read", "create", "create"]  # newest first

    about_ada = _search(api, alice, f"patient=Patient/{ada['id']}")
    assert _subtypes(about_ada) == ["read", "create"]
    assert _search(api, alice, f"patient={other['id']}")["total"] == 1
    assert _search(api, alice, "patient=Patient/00000000-0000-4000-8000-000000000000")["total"] == 0
    mrn = next(i for i in ada["identifier"] if i["system"].startswith("urn:oid:"))
    by_identifier = _search(api, alice, f"patient:identifier={mrn['system']}|{mrn['value']}")
    assert by_identifier["total"] == 3  # create, read, and the audit search about her above

    failures = _search(api, alice, "outcome=4")
    assert _subtypes(failures) == ["read"]
    assert failures["entry"][0]["resource"]["outcome"] == "4"
    assert _search(api, alice, "agent=alice-app-user&_count=1000")["total"] >= 4
    assert _search(api, alice, "agent=somebody-else")["total"] == 0
    assert _search(api, alice, f"entity=Patient/{ada['id']}")["total"] == 2  # create and read

    today = dt.datetime.now(dt.UTC).date()
    assert _search(api, alice, f"date=ge{today}&date=le{today}&outcome=0&_count=1")["entry"]
    assert _search(api, alice, f"date=lt{today}")["total"] == 0
    assert _search(api, alice, f"date=gt{today}")["total"] == 0

    # Tenant isolation: bob's organization sees only its own trail (its own searches).
    assert all(
        e["resource"]["subtype"][0]["code"] == "search-type" for e in _search(api, bob, "").get("entry", [])
    )
    assert _search(api, bob, f"patient=Patient/{ada['id']}")["total"] == 0


def test_audit_event_paging(api: Api, alice: Registered) -> None:
    for index in range(3):
        _create(api, alice, identifiers=(("http://clinic-a.example/mrn", f"P-{index}"),))
    url = "/AuditEvent?entity=Patient&_count=2".replace("entity=Patient&", "")
    url += "&outcome=0"
    seen: list[str] = []
    while url:
        bundle = api.http.get(url, headers={"X-API-Key": alice.api_key}).json()
        Bundle.model_validate(bundle)
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = following[0].removeprefix("http://hiegate.test") if following else ""
    assert len(seen) == len(set(seen)) >= 3
    accurate = _search(api, alice, "_count=1&_total=accurate&outcome=0")
    assert accurate["total"] >= 4
    assert len(accurate["entry"]) == 1


def test_audit_event_search_errors(api: Api, alice: Registered) -> None:
    for query in ("outcome=3", "date=yesterday", "_cursor=xyz", "subtype=read", "outcome=0&outcome=3"):
        response = api.http.get(f"/AuditEvent?{query}", headers={"X-API-Key": alice.api_key})
        assert response.status_code == 400, query
        assert response.json()["resourceType"] == "OperationOutcome"


def test_audit_event_export(api: Api, alice: Registered) -> None:
    ada = _create(api, alice)
    api.http.get(f"/Patient/{ada['id']}", headers={"X-API-Key": alice.api_key})
    response = api.http.get(
        f"/AuditEvent/$export?patient=Patient/{ada['id']}", headers={"X-API-Key": alice.api_key}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+ndjson"
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert [line["subtype"][0]["code"] for line in lines] == ["create", "read"]  # oldest first
    for line in lines:
        R4BAuditEvent.model_validate(line)
    refused = api.http.get("/AuditEvent/$export", headers={"X-API-Key": alice.api_key, "Accept": "text/csv"})
    assert refused.status_code == 406
    assert _api_events(api, "clinic-a")[-1].operation == "$export"


def test_accounting_of_disclosures(api: Api, alice: Registered, bob: Registered) -> None:
    ada = _create(api, alice)
    mrn = next(i for i in ada["identifier"] if i["system"].startswith("urn:oid:"))
    context = api.app.state.api
    with api.database.session() as session, session.begin():
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "clinic-a")).one()
        context.audit.record(
            session,
            tenant,
            TransactionEvent(
                transaction=Transaction.ITI_39,
                direction=Direction.RESPONDING,
                outcome=Outcome.SUCCESS,
                requestor=Requestor(user_id="dr-remote", organization="Remote Hospital"),
                remote=RemotePeer(home_community_id="1.2.3.4.5", organization="Remote Hospital"),
                patients=(PatientId(value=mrn["value"], assigning_authority=mrn["system"][8:]),),
                documents=(DocumentRef(unique_id="1.2.3.4.5.6.7", repository_id="1.2.3"),),
            ),
        )
    response = api.http.get(f"/Patient/{ada['id']}/$disclosures", headers={"X-API-Key": alice.api_key})
    assert response.status_code == 200, response.text
    body = response.json()
    Parameters.model_validate(body)
    (disclosure,) = body["parameter"]
    parts = {part["name"]: part for part in disclosure["part"]}
    assert parts["direction"]["valueCode"] == "sent-to"
    assert parts["transaction"]["valueCoding"]["code"] == "ITI-39"
    assert parts["remoteCommunity"]["valueIdentifier"]["value"] == "urn:oid:1.2.3.4.5"
    assert parts["document"]["valueIdentifier"]["value"] == "1.2.3.4.5.6.7"
    empty = api.http.get(
        f"/Patient/{ada['id']}/$disclosures?date=lt2000-01-01", headers={"X-API-Key": alice.api_key}
    )
    assert "parameter" not in empty.json()
    hidden = api.http.get(f"/Patient/{ada['id']}/$disclosures", headers={"X-API-Key": bob.api_key})
    assert hidden.status_code == 404
    events = _api_events(api, "clinic-a")
    assert events[-1].operation == "$disclosures"
    assert events[-1].patients
