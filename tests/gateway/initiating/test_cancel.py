"""Cancelling a pull job: a running pull stops before its next request (the held answer still lands and is
audited), a queued one never starts, a finished one cannot be cancelled, a cancelled one is never resumed, and
``hiegate pull --cancel`` reports each case with its exit code."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.audit import AuditFilter, PullJobEvent, PullStage, TransactionEvent, iter_records
from gateway.cli import main
from gateway.directory import SelectionSpec, SelectionStrategy
from gateway.initiating import GatewayOutcome, JobState, PullRequest, PullSummary
from gateway.initiating.events import EventKind, ProgressEvent
from gateway.store import Database, FhirResource, PullJob, PullJobGateway, RawDocument, Tenant
from tests.gateway.initiating.conftest import (
    HEALTHY,
    NOBODY,
    Network,
    cli_settings,
    import_directory,
    make_service,
    request_for,
    user,
)
from xca.errors import JobCancelledError, JobFinishedError, UnknownJobError


def _request(network: Network) -> PullRequest:
    spec = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY, NOBODY))
    return replace(request_for(network), selection=spec)


def _until(condition: Callable[[], bool], what: str) -> None:
    # Polls persisted state (and the servers' hit counters); the deadline only bounds a broken run.
    deadline = time.monotonic() + 25
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _outcomes(database: Database, job_id: uuid.UUID) -> dict[str, tuple[str, str | None]]:
    with database.session() as session:
        rows = session.scalars(select(PullJobGateway).where(PullJobGateway.job_id == job_id))
        return {r.home_community_id: (r.stage, r.outcome) for r in rows}


def _events(database: Database) -> list[object]:
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic"))
        assert tenant is not None
        return [r.event for r in iter_records(session, tenant, AuditFilter())]


def test_cancel_while_a_gateway_is_held_stops_before_the_next_request(
    network: Network, database: Database
) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    job_id = service.create_job(_request(network))
    healthy = network.nodes[HEALTHY]
    before = healthy.hits.copy()
    gate = threading.Event()
    healthy.holds["/xca/query"] = gate
    events: list[ProgressEvent] = []
    result: list[PullSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(asyncio.run(service.run(job_id, listeners=[events.append])))
    )
    runner.start()
    try:
        # Held at ITI-38 (the server has the request), NOBODY's ITI-55 persisted.
        _until(
            lambda: (
                healthy.hits["/xca/query"] > before["/xca/query"]
                and _outcomes(database, job_id)[NOBODY][0] == "done"
            ),
            "the pull to be held at ITI-38",
        )
        was = make_service(network, database).store.cancel_job(job_id, user())
        assert was is JobState.QUERYING
    finally:
        gate.set()
        runner.join()
        healthy.holds.clear()

    (summary,) = result
    assert summary.state is JobState.CANCELLED
    assert summary.bundle is None
    # The held ITI-38 answered and was recorded; no ITI-39 went out after it.
    assert healthy.hits - before == Counter({"/xcpd": 1, "/xca/query": 1})
    assert _outcomes(database, job_id) == {
        HEALTHY: ("done", GatewayOutcome.CANCELLED.value),
        NOBODY: ("done", GatewayOutcome.NO_MATCH.value),
    }
    audited = _events(database)
    exchanges = Counter(
        (e.transaction.value, e.remote.home_community_id) for e in audited if isinstance(e, TransactionEvent)
    )
    assert exchanges == Counter({("ITI-55", HEALTHY): 1, ("ITI-55", NOBODY): 1, ("ITI-38", HEALTHY): 1})
    (cancel,) = [e for e in audited if isinstance(e, PullJobEvent) and "HG-6204" in e.error_codes]
    assert cancel.job_id == str(job_id)
    assert cancel.stage is PullStage.CANCELLED
    assert cancel.requestor.user_id == user().user_id
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(RawDocument)) == 0
        assert session.scalar(select(func.count()).select_from(FhirResource)) == 0
        job = session.get(PullJob, job_id)
        assert job is not None
        assert job.finished_at is not None
        assert job.error_code == "HG-6204"
    assert events[-1].kind is EventKind.JOB_FINISHED
    assert events[-1].state is JobState.CANCELLED

    # Never resumed: not listed as unfinished, refused when claimed, even forced.
    fresh = make_service(network, database)
    assert fresh.unfinished() == []
    with pytest.raises(JobCancelledError):
        asyncio.run(fresh.run(job_id))
    with pytest.raises(JobCancelledError):
        asyncio.run(fresh.run(job_id, force=True))
    assert healthy.hits - before == Counter({"/xcpd": 1, "/xca/query": 1})


def test_a_queued_job_cancelled_never_asks_anyone(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    job_id = service.create_job(_request(network))
    hits = {home: node.hits.copy() for home, node in network.nodes.items()}
    assert service.store.cancel_job(job_id, user()) is JobState.DISCOVERING  # as created: nobody asked yet
    assert _outcomes(database, job_id) == {
        HEALTHY: ("done", GatewayOutcome.SKIPPED.value),
        NOBODY: ("done", GatewayOutcome.SKIPPED.value),
    }
    with pytest.raises(JobCancelledError):
        service.store.cancel_job(job_id, user())
    with pytest.raises(JobCancelledError):
        asyncio.run(service.run(job_id))
    assert {home: node.hits for home, node in network.nodes.items()} == hits


def test_finished_and_unknown_jobs_cannot_be_cancelled(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    spec = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(NOBODY,))
    summary = asyncio.run(service.pull(replace(request_for(network), selection=spec)))
    assert summary.state is JobState.DONE
    with pytest.raises(JobFinishedError):
        service.store.cancel_job(summary.job_id, user())
    state, _, _, _ = service.store.reports(summary.job_id)
    assert state is JobState.DONE
    with pytest.raises(UnknownJobError):
        service.store.cancel_job(uuid.uuid4(), user())


def test_cli_cancel_exit_codes(
    network: Network,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    queued = service.create_job(_request(network))
    spec = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(NOBODY,))
    done = asyncio.run(service.pull(replace(request_for(network), selection=spec))).job_id
    cli_settings(monkeypatch, tmp_path, network, database)
    capsys.readouterr()
    assert main(["pull", "--cancel", str(queued)]) == 0
    assert f"job {queued} cancelled (it was discovering)" in capsys.readouterr().out
    assert main(["pull", "--cancel", str(queued)]) == 0
    assert "already cancelled" in capsys.readouterr().out
    assert main(["pull", "--cancel", str(done)]) == 1
    assert "HG-6205" in capsys.readouterr().err
    assert main(["pull", "--cancel", str(uuid.uuid4())]) == 1
    assert "HG-6201" in capsys.readouterr().err
    assert main(["pull", "--cancel", "not-a-job"]) == 2
    capsys.readouterr()
    assert main(["pull", "--resume", str(queued)]) == 1
    assert "HG-6204" in capsys.readouterr().err


def test_a_cancel_landing_as_the_record_is_published_publishes_nothing(
    network: Network, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NOBODY's discovery is held, so the record (HEALTHY's documents) is published while it is still asked;
    # the cancel, from another process, lands between the worker's last look and the publication.
    gate = threading.Event()
    network.nodes[NOBODY].holds["/xcpd"] = gate
    import_directory(network, database)
    service = make_service(network, database)
    job_id = service.create_job(_request(network))
    publish = service.store.publish_record
    cancels: list[JobState] = []

    def cancelled_first(*args: Any, **kwargs: Any) -> Any:
        cancels.append(make_service(network, database).store.cancel_job(job_id, user()))
        try:
            return publish(*args, **kwargs)
        finally:
            gate.set()

    monkeypatch.setattr(service.store, "publish_record", cancelled_first)
    events: list[ProgressEvent] = []
    try:
        summary = asyncio.run(service.run(job_id, listeners=[events.append]))
    finally:
        gate.set()
        network.nodes[NOBODY].holds.clear()

    assert cancels == [JobState.DISCOVERING]
    assert summary.state is JobState.CANCELLED
    assert [e.kind for e in events if e.kind in (EventKind.RECORD_READY, EventKind.RECORD_UPDATED)] == []
    with database.session() as session:
        job = session.get(PullJob, job_id)
        assert job is not None
        assert (job.record_ms, job.resources_stored) == (None, 0)
