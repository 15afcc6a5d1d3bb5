"""Odd and hostile query values found by fuzzing answer 200 or 4xx with an OperationOutcome, never 500:
instants at the edges of the calendar, other scripts' digits, numbers the database cannot hold, forged
cursors, a scalar where ``$pull`` expects its parameters; and ``_count=0`` counts the matches."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from fhir_facade.api.paging import parse_date_param
from gateway.store.models import Tenant, utcnow
from gateway.store.pull import FhirResource, record_scope
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json

SCOPES = " ".join(
    ("system/Patient.rs", "system/Patient.c", "system/Patient.$pull", "system/Condition.rs",
     "system/Observation.rs", "system/AuditEvent.rs")
)  # fmt: skip


@pytest.fixture
def client(api: Api, rsa_key: Any) -> Registered:
    return api.register("fuzz-app", rsa_key, scopes=SCOPES)


@pytest.fixture
def patient(api: Api, client: Registered) -> str:
    created = api.http.post(
        "/Patient", json=patient_json(), headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    )
    assert created.status_code == 201, created.text
    patient_id: str = created.json()["id"]
    with api.database.session() as session, session.begin():
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "clinic-a")).one()
        for n in range(3):
            session.add(
                FhirResource(
                    tenant_id=tenant.id,
                    patient_id=uuid.UUID(patient_id),
                    scope=record_scope(uuid.UUID(patient_id)),
                    resource_type="Condition",
                    resource_id=f"c{n}",
                    source_document_id=None,
                    content={
                        "resourceType": "Condition",
                        "id": f"c{n}",
                        "subject": {"reference": f"Patient/{patient_id}"},
                    },
                    updated_at=utcnow(),
                )
            )
    return patient_id


def _cursor(position: dict[str, object]) -> str:
    # Numbers written into the JSON text: orjson refuses to write integers beyond 64 bits.
    text = "{" + ",".join(f'"{k}":{str(v).lower()}' for k, v in position.items()) + "}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _get(api: Api, client: Registered, path: str) -> tuple[int, dict[str, Any]]:
    answer = api.http.get(path, headers={"X-API-Key": client.api_key, "Accept": "application/fhir+json"})
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    "path",
    [
        "/Observation?patient={p}&date=9999-12-31",
        "/Observation?patient={p}&date=lt0001-01-01",
        "/Observation?patient={p}&date=0001-01-01T00:00%2B01:00",
        "/Observation?patient={p}&date=9999-12-31T23:59-01:00",
        "/Condition?patient={p}&_since=9999-12-31T23:59:59.999999Z",
        "/AuditEvent?date=9999-12-31",
        "/Patient/{p}/$everything?_since=9999-12-31",
        "/Patient/{p}/$disclosures?date=9999-12-31",
    ],
)
def test_instants_at_the_edges_of_the_calendar_search_nothing(
    api: Api, client: Registered, patient: str, path: str
) -> None:
    status, body = _get(api, client, path.format(p=patient))
    assert status == 200, body
    assert body["resourceType"] in ("Bundle", "Parameters")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/Condition?patient={p}&_count=%C2%B2", 400),  # a superscript two
        ("/Condition?patient={p}&_count=%D9%A1", 400),  # an Arabic-Indic one
        ("/Observation?patient={p}&date=%D9%A1%D9%A9%D9%A8%D9%A0", 400),
        ("/Condition?patient={p}&_cursor=" + _cursor({"i": 18446744073709551615}), 400),
        ("/Condition?patient={p}&_cursor=" + _cursor({"i": True}), 400),
        ("/Patient/{p}/$everything?_cursor=" + _cursor({"i": 2**70}), 400),
        ("/AuditEvent/audit-1-%C2%B2", 404),
        ("/AuditEvent/audit-1-99999999999999999999999", 404),
    ],
)
def test_other_digits_and_unholdable_numbers_are_refused(
    api: Api, client: Registered, patient: str, path: str, status: int
) -> None:
    got, body = _get(api, client, path.format(p=patient))
    assert got == status, body
    assert body["resourceType"] == "OperationOutcome"


def test_count_zero_counts_the_matches(api: Api, client: Registered, patient: str) -> None:
    status, body = _get(api, client, f"/Condition?patient={patient}&_count=0")
    assert status == 200, body
    assert body["total"] == 3
    assert "entry" not in body
    status, body = _get(api, client, f"/Condition?patient={patient}")
    assert body["total"] == 3


@pytest.mark.parametrize("parameter", [5, True, "abc", {"name": "purposeOfUse"}])
def test_pull_parameters_that_are_not_an_array_are_a_400(
    api: Api, client: Registered, patient: str, parameter: object
) -> None:
    answer = api.http.post(
        f"/Patient/{patient}/$pull",
        json={"resourceType": "Parameters", "parameter": parameter},
        headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_purpose_given_twice_is_a_400(api: Api, client: Registered, patient: str) -> None:
    twice = [{"name": "purposeOfUse", "valueCode": code} for code in ("TREATMENT", "PAYMENT")]
    answer = api.http.post(
        f"/Patient/{patient}/$pull",
        json={"resourceType": "Parameters", "parameter": twice},
        headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key},
    )
    assert answer.status_code == 400, answer.text
    assert "purposeOfUse may be given once" in answer.text


_FIRST = dt.datetime.min.replace(tzinfo=dt.UTC)
_NOON_9999 = dt.datetime(9999, 12, 31, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "inside", "outside"),
    [
        ("0001-01-01T00:00+01:00", [], [_FIRST, _FIRST + dt.timedelta(hours=1)]),  # wholly before year 1
        ("9999-12-31T23:59-01:00", [], [_NOON_9999]),  # after 9999 (from the last instant on, itself aside)
        ("9999-12-31", [_NOON_9999], [dt.datetime(9999, 12, 30, tzinfo=dt.UTC)]),
        ("lt0001-01-01", [], [_FIRST]),
        ("le9999-12-31", [_FIRST, _NOON_9999], []),
        ("gt9999-12-31", [], [_NOON_9999]),
        ("ge0001-01-01T00:30+01:00", [_FIRST, _NOON_9999], []),
    ],
)
def test_a_date_beyond_the_calendar_means_what_it_says(
    value: str, inside: list[dt.datetime], outside: list[dt.datetime]
) -> None:
    found = parse_date_param("date", value)

    def holds(instant: dt.datetime) -> bool:
        return (found.start is None or found.start <= instant) and (found.end is None or instant < found.end)

    assert [holds(t) for t in inside] == [True] * len(inside)
    assert [holds(t) for t in outside] == [False] * len(outside)


@pytest.mark.parametrize("form", [str.upper, lambda i: i.replace("-", ""), lambda i: f"urn:uuid:{i}"])
def test_a_patient_id_not_written_as_issued_names_nobody_on_any_route(
    api: Api, client: Registered, patient: str, form: Any
) -> None:
    other = form(patient)
    status, body = _get(api, client, f"/Patient/{other}/$everything")
    assert status == 404, body
    status, body = _get(api, client, f"/Condition?patient={other}")
    assert status == 200, body
    assert body["total"] == 0
