"""The same ``$pull`` asked again by the same client while its job is unfinished (a retried POST, a second
click) answers with that job's status URL instead of starting a second job that asks every gateway again; a
different pull, or another client's, gets its own job. The background worker never runs one job twice."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from certs import init_dev_pki
from gateway.store.pull import PullJob
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, patient_json

SCOPES = "system/Patient.rs system/Patient.c system/Patient.$pull"
PURPOSE = {"name": "purposeOfUse", "valueCode": "TREATMENT"}


def _pull(api: Api, headers: dict[str, str], patient_id: str, *extra: dict[str, Any]) -> Any:
    body = {"resourceType": "Parameters", "parameter": [PURPOSE, *extra]}
    response = api.http.post(f"/Patient/{patient_id}/$pull", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response


def test_the_same_pull_again_answers_with_the_unfinished_job(
    api: Api, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[uuid.UUID] = []
    worker = api.app.state.worker
    init_dev_pki(tmp_path / "certs")  # the pull service signs with this gateway's certificates
    monkeypatch.setattr(
        worker, "settings", worker.settings.model_copy(update={"certs_dir": tmp_path / "certs"})
    )
    monkeypatch.setattr(worker, "start_pull", lambda _tenant, job_id: started.append(job_id))  # stays queued
    alice = api.register("alice-app", rsa_key, scopes=SCOPES)
    carol = api.register("carol-app", rsa_key, scopes=SCOPES)  # same tenant, another client
    a = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    c = {**FHIR_JSON_HEADERS, "X-API-Key": carol.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=a)
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]

    first = _pull(api, a, patient_id)
    again = _pull(api, a, patient_id)
    assert again.headers["content-location"] == first.headers["content-location"]
    assert "already running" in again.json()["issue"][0]["diagnostics"]
    period = {"name": "period", "valuePeriod": {"start": "2024-01-01"}}
    narrower = _pull(api, a, patient_id, period)  # another pull: its own job
    theirs = _pull(api, c, patient_id)  # another client's: its own job, its own status URL
    urls = {r.headers["content-location"] for r in (first, narrower, theirs)}
    assert len(urls) == 3
    with api.database.session() as session:
        jobs = session.scalars(select(PullJob.id).where(PullJob.patient_id == uuid.UUID(patient_id))).all()
    assert len(jobs) == 3
    assert started.count(started[0]) == 2  # asked to run again: the worker keeps it to one run


def test_the_worker_runs_a_job_once_however_often_it_is_started(api: Api) -> None:
    worker = api.app.state.worker
    runs: list[uuid.UUID] = []

    async def once(_tenant: object, job_id: uuid.UUID) -> None:
        runs.append(job_id)
        for _ in range(3):  # a run spans several turns of the loop
            await asyncio.sleep(0)

    async def scenario() -> None:
        worker._run_pull_once = once
        job = uuid.uuid4()
        await asyncio.gather(worker._run_pull(None, job), worker._run_pull(None, job))  # at the same time
        await worker._run_pull(None, job)  # after the first run ended: runs again (a resume)

    asyncio.run(scenario())
    assert len(runs) == 2
