"""A pull interrupted after each persisted step resumes in a fresh service (new worker, new connections) to
the same result as an uninterrupted pull: same documents, stored once; same consolidated record; and the audit
log shows each exchange of completed work exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from gateway.audit import AuditFilter, Outcome, TransactionEvent, iter_records
from gateway.directory import SelectionSpec, SelectionStrategy
from gateway.initiating import DocumentState, JobState, PullRequest
from gateway.store import Database, FhirResource, PullJobDocument, RawDocument, Tenant
from tests.gateway.initiating.conftest import (
    HEALTHY,
    NOBODY,
    Network,
    import_directory,
    make_service,
    request_for,
)


class Crash(BaseException):
    """Stands in for a kill: not an Exception, so nothing in the worker handles it."""


def _request(network: Network) -> PullRequest:
    spec = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY, NOBODY))
    return replace(request_for(network), selection=spec)


def _crash_after(n: int, seen: list[str]) -> object:
    def hook(step: str) -> None:
        seen.append(step)
        if len(seen) == n:
            raise Crash(step)

    return hook


def _successful_exchanges(database: Database) -> Counter[tuple[str, str | None]]:
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic"))
        assert tenant is not None
        events = [r.event for r in iter_records(session, tenant, AuditFilter())]
    return Counter(
        (e.transaction.value, e.remote.home_community_id)
        for e in events
        if isinstance(e, TransactionEvent) and e.outcome is Outcome.SUCCESS
    )


def _reference(network: Network, tmp_path: Path) -> bytes:
    database = Database(f"sqlite:///{tmp_path / 'reference.db'}")
    database.upgrade()
    try:
        import_directory(network, database)
        summary = asyncio.run(make_service(network, database).pull(_request(network)))
        assert summary.state is JobState.DONE
        return orjson.dumps(summary.bundle["entry"])  # type: ignore[index]
    finally:
        database.dispose()


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_interrupted_pull_resumes_to_the_same_result(
    network: Network, database: Database, tmp_path: Path, steps: int
) -> None:
    reference = _reference(network, tmp_path)
    hits_before = network.nodes[HEALTHY].hits.copy()
    import_directory(network, database)
    seen: list[str] = []
    first = make_service(network, database)
    job_id = first.create_job(_request(network))
    with pytest.raises((Crash, BaseExceptionGroup)):
        asyncio.run(first.run(job_id, step_hook=_crash_after(steps, seen)))  # type: ignore[arg-type]
    assert first.unfinished() == [job_id]

    fresh = make_service(network, database)  # a restarted worker: new breakers, clients, threads
    assert fresh.unfinished() == [job_id]
    summary = asyncio.run(fresh.run(job_id))
    assert summary.state is JobState.DONE
    assert fresh.unfinished() == []

    assert orjson.dumps(summary.bundle["entry"]) == reference  # type: ignore[index]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(RawDocument)) == 2
        states = session.scalars(select(PullJobDocument.state).where(PullJobDocument.job_id == job_id)).all()
        assert sorted(states) == [DocumentState.CONVERTED.value] * 2
        resources = session.scalar(select(func.count()).select_from(FhirResource))
        distinct = session.scalar(
            select(func.count()).select_from(
                select(FhirResource.scope, FhirResource.resource_type, FhirResource.resource_id)
                .distinct()
                .subquery()
            )
        )
        assert resources == distinct
    assert _successful_exchanges(database) == Counter(
        {("ITI-55", HEALTHY): 1, ("ITI-55", NOBODY): 1, ("ITI-38", HEALTHY): 1, ("ITI-39", HEALTHY): 1}
    )
    asked = network.nodes[HEALTHY].hits - hits_before
    if steps >= 4:  # everything from the healthy gateway was recorded before the crash: nothing asked again
        assert asked == Counter({"/xcpd": 1, "/xca/query": 1, "/xca/retrieve": 1})


def test_a_finished_job_runs_again_as_a_no_op(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    summary = asyncio.run(service.pull(_request(network)))
    hits = network.nodes[HEALTHY].hits.copy()
    again = asyncio.run(make_service(network, database).run(summary.job_id))
    assert again.state is JobState.DONE
    assert network.nodes[HEALTHY].hits == hits
    assert again.bundle == summary.bundle
