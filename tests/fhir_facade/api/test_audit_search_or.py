"""AuditEvent search as FHIR R4 reads a comma and a repeat: ``patient``, ``agent``, ``entity`` and
``outcome`` take comma-separated alternatives (any of them matches), ``\\,`` is a comma inside a value, at
most 50 values per parameter, and a repeated parameter is one more condition (all of them must hold). The
export takes the same parameters."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import select

from gateway.audit import ApiAccessEvent, ApiInteraction, Outcome, Requestor
from gateway.store import Tenant
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json


def _create(api: Api, client: Registered, family: str, mrn: str) -> dict[str, Any]:
    body = patient_json(family=family, identifiers=(("http://clinic-a.example/mrn", mrn),))
    response = api.http.post(
        "/Patient", json=body, headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _get(api: Api, client: Registered, query: str) -> Any:
    return api.http.get(f"/AuditEvent?{query}", headers={"X-API-Key": client.api_key})


def _found(api: Api, client: Registered, query: str) -> list[dict[str, Any]]:
    response = _get(api, client, query)
    assert response.status_code == 200, (query, response.text)
    return [e["resource"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]


def _entities(events: list[dict[str, Any]]) -> set[str]:
    return {
        entity["what"]["reference"]
        for event in events
        for entity in event.get("entity", [])
        if "reference" in entity.get("what", {})
    }


def _creates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if any(s.get("code") == "create" for s in e.get("subtype", []))]


def _mrn(patient: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = next(i for i in patient["identifier"] if i["system"].startswith("urn:oid:"))
    return found


@pytest.fixture
def three(api: Api, alice: Registered) -> list[dict[str, Any]]:
    """Three patients of clinic-a, each created (one audit record each, newest last)."""
    return [_create(api, alice, family, f"M-{n}") for n, family in enumerate(("Ames", "Bell", "Cole"))]


def test_patient_commas_are_any_of(api: Api, alice: Registered, three: list[dict[str, Any]]) -> None:
    ames, bell, cole = three
    both = _found(api, alice, f"patient=Patient/{ames['id']},{cole['id']}")
    assert len(both) == 2
    assert _entities(both) == {f"Patient/{ames['id']}", f"Patient/{cole['id']}"}
    # An alternative that names no patient of the tenant leaves the others.
    unknown = "Patient/00000000-0000-4000-8000-000000000000"
    assert len(_found(api, alice, f"patient={unknown},Patient/{bell['id']}")) == 1
    assert _found(api, alice, f"patient={unknown},{unknown[8:]}") == []


def test_patient_identifier_commas_are_any_of(
    api: Api, alice: Registered, three: list[dict[str, Any]]
) -> None:
    ames, bell, _cole = three
    wanted = ",".join(f"{_mrn(p)['system']}|{_mrn(p)['value']}" for p in (ames, bell))
    found = _found(api, alice, f"patient:identifier={wanted}")
    assert _entities(found) >= {f"Patient/{ames['id']}", f"Patient/{bell['id']}"}
    assert f"Patient/{_cole['id']}" not in _entities(found)
    bare = _found(api, alice, f"patient:identifier={_mrn(ames)['value']},no-such-mrn")
    assert f"Patient/{ames['id']}" in _entities(bare)
    for query in (f"{_mrn(ames)['system']}|", rf"{_mrn(ames)['system']}|a\|b"):
        refused = _get(api, alice, f"patient:identifier={query}")
        assert refused.status_code == 400, query
        assert refused.json()["issue"][0]["expression"] == ["patient:identifier"]


def test_agent_entity_and_outcome_commas(api: Api, alice: Registered, three: list[dict[str, Any]]) -> None:
    ames, bell, cole = three
    api.http.get("/Patient/00000000-0000-4000-8000-000000000000", headers={"X-API-Key": alice.api_key})  # 404
    assert len(_found(api, alice, "agent=somebody-else,alice-app-user&_count=1000")) >= 4
    assert _found(api, alice, "agent=somebody-else,nobody") == []
    entities = _found(api, alice, f"entity=Patient/{ames['id']},Patient/{cole['id']}")
    assert _entities(entities) == {f"Patient/{ames['id']}", f"Patient/{cole['id']}"}
    assert len(_found(api, alice, f"entity=Patient/{bell['id']},nothing-at-all")) == 1
    failures = _found(api, alice, "outcome=4")
    assert len(failures) == 1
    either = [e["outcome"] for e in _found(api, alice, "outcome=0,4&_count=1000")]
    assert either.count("4") == 1
    assert either.count("0") >= 4  # the creates and the searches above
    assert set(either) == {"0", "4"}
    assert _get(api, alice, "outcome=0,3").status_code == 400


def test_a_repeated_parameter_is_one_more_condition(
    api: Api, alice: Registered, three: list[dict[str, Any]]
) -> None:
    ames, bell, cole = three
    api.http.get("/Patient/00000000-0000-4000-8000-000000000000", headers={"X-API-Key": alice.api_key})  # 404
    # patient: a record must name a patient of each occurrence (these searches' own audit records name the
    # patients they searched for, so later searches find them too: only the creates are counted)
    both = _found(api, alice, f"patient={ames['id']}&patient={bell['id']}")
    assert _creates(both) == []
    assert all({f"Patient/{ames['id']}", f"Patient/{bell['id']}"} <= _entities([e]) for e in both)
    found = _found(api, alice, f"patient=Patient/{ames['id']},{bell['id']}&patient={ames['id']}")
    assert _entities(_creates(found)) == {f"Patient/{ames['id']}"}
    by_mrn = f"{_mrn(ames)['system']}|{_mrn(ames)['value']}"
    mixed = _found(api, alice, f"patient={ames['id']},{cole['id']}&patient:identifier={by_mrn}")
    assert _entities(_creates(mixed)) == {f"Patient/{ames['id']}"}
    # agent and outcome: one per record, so the values common to every occurrence
    assert len(_found(api, alice, "agent=alice-app-user,x&agent=alice-app-user&_count=1000")) >= 4
    assert _found(api, alice, "agent=alice-app-user&agent=somebody-else") == []
    assert [e["outcome"] for e in _found(api, alice, "outcome=0,4&outcome=4,8")] == ["4"]
    assert _found(api, alice, "outcome=0&outcome=4") == []
    # entity: the record names one entity of each occurrence
    assert (
        len(
            _found(
                api, alice, f"entity=Patient/{ames['id']},Patient/{cole['id']}&entity=Patient/{cole['id']}"
            )
        )
        == 1
    )
    assert _found(api, alice, f"entity=Patient/{ames['id']}&entity=Patient/{cole['id']}") == []
    exported = api.http.get("/AuditEvent/$export?outcome=0,4&outcome=4", headers={"X-API-Key": alice.api_key})
    assert exported.status_code == 200, exported.text
    assert [orjson.loads(line)["outcome"] for line in exported.content.splitlines()] == ["4"]


def test_escaped_comma_is_part_of_the_value(api: Api, alice: Registered) -> None:
    context = api.app.state.api
    with api.database.session() as session, session.begin():
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "clinic-a")).one()
        context.audit.record(
            session,
            tenant,
            ApiAccessEvent(
                interaction=ApiInteraction.READ,
                resource_type="Binary",
                outcome=Outcome.SUCCESS,
                requestor=Requestor(user_id="lee,ada", organization="Clinic A"),
                http_status=200,
                resource_id="doc,1",
            ),
        )
    assert len(_found(api, alice, r"agent=lee\,ada")) == 1
    assert _found(api, alice, "agent=lee,ada") == []  # "lee" or "ada"
    assert len(_found(api, alice, r"entity=Binary/doc\,1,other")) == 1
    assert _found(api, alice, "entity=Binary/doc,1") == []


@pytest.mark.parametrize(
    "query",
    ["agent=a,,b", "agent=a,", "outcome=0,x", "agent=a&agent=", "outcome=0&outcome=x", "entity=a&entity=,"],
)
def test_empty_or_bad_alternatives_are_refused(api: Api, alice: Registered, query: str) -> None:
    response = _get(api, alice, query)
    assert response.status_code == 400, query
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("name", ["patient", "patient:identifier", "agent", "entity", "outcome"])
def test_at_most_50_values_per_parameter(api: Api, alice: Registered, name: str) -> None:
    values = ["0"] * 50 if name == "outcome" else [f"v{n}" for n in range(50)]
    assert _get(api, alice, f"{name}={','.join(values)}").status_code == 200
    refused = _get(api, alice, f"{name}={','.join([*values, values[0]])}")
    assert refused.status_code == 400
    issue = refused.json()["issue"][0]
    assert issue["code"] == "too-long"
    assert "more than 50 values" in issue["diagnostics"]


def test_export_takes_the_alternatives(api: Api, alice: Registered, three: list[dict[str, Any]]) -> None:
    ames, _bell, cole = three
    response = api.http.get(
        f"/AuditEvent/$export?patient={ames['id']},{cole['id']}", headers={"X-API-Key": alice.api_key}
    )
    assert response.status_code == 200, response.text
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert _entities(lines) == {f"Patient/{ames['id']}", f"Patient/{cole['id']}"}
