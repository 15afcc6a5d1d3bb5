"""The pull against four real responding gateways over mutual TLS: exact per-gateway outcomes, documents
stored once, every exchange audited once, links reused and only new documents fetched by a second pull,
circuit opening and recovering."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from gateway.audit import (
    AuditFilter,
    AuditSource,
    Direction,
    Outcome,
    PatientIdRole,
    TransactionEvent,
    iter_records,
    to_fhir_audit_event,
)
from gateway.initiating import (
    BreakerPolicy,
    BreakerState,
    CircuitBreakers,
    DocumentState,
    EventKind,
    GatewayOutcome,
    JobState,
    ProgressEvent,
    PullSummary,
)
from gateway.store import Database, FhirResource, PatientLink, PullJobDocument, RawDocument, Tenant
from tests.gateway.initiating.conftest import (
    BROKEN,
    CALLER,
    HEALTHY,
    NOBODY,
    SLOW,
    Network,
    import_directory,
    make_service,
    request_for,
)


def transactions(database: Database) -> list[TransactionEvent]:
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic"))
        assert tenant is not None
        events = [r.event for r in iter_records(session, tenant, AuditFilter())]
    return [e for e in events if isinstance(e, TransactionEvent)]


def by_gateway(summary: PullSummary) -> dict[str, object]:
    return {g.home_community_id: g for g in summary.gateways}


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_pull_reports_every_gateway_and_stores_documents_once(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    events: list[ProgressEvent] = []
    # Wall time against the slowest gateway is measured by bench/bench_pull.py, not asserted here.
    summary = asyncio.run(service.pull(request_for(network), listeners=[events.append]))

    assert summary.state is JobState.DONE
    gateways = {g.home_community_id: g for g in summary.gateways}
    healthy = gateways[HEALTHY]
    assert (healthy.outcome, healthy.documents_found, healthy.documents_retrieved) == (
        GatewayOutcome.OK,
        2,
        2,
    )
    assert healthy.remote_patient == f"GRACE-1^^^&{HEALTHY}.2&ISO"
    assert healthy.match_score is not None
    assert healthy.match_score >= 85
    assert gateways[NOBODY].outcome is GatewayOutcome.NO_MATCH
    assert gateways[NOBODY].reason is not None
    assert gateways[NOBODY].reason.startswith("no match")
    broken = gateways[BROKEN]
    assert (broken.outcome, broken.error_code) == (GatewayOutcome.FAILED, "HG-6013")
    assert broken.reason == "HTTP 500 without a SOAP answer after 3 attempts"
    assert network.nodes[BROKEN].hits["/xcpd"] == 3  # retried twice, then gave up
    slow = gateways[SLOW]
    assert (slow.outcome, slow.error_code) == (GatewayOutcome.TIMEOUT, "HG-6012")
    assert network.nodes[SLOW].hits["/xcpd"] == 1  # a timeout is not retried

    counters = summary.counters
    assert (counters.gateways_selected, counters.gateways_asked, counters.gateways_matched) == (4, 4, 1)
    assert (counters.gateways_failed, counters.documents_found, counters.documents_retrieved) == (2, 2, 2)
    assert counters.documents_converted == 2
    assert count(database, RawDocument) == 2
    assert counters.resources_stored > 10
    assert summary.bundle is not None
    assert len(summary.bundle["entry"]) == counters.resources_stored  # type: ignore[arg-type]

    # Every outbound exchange audited exactly once, with the requestor, peer and patient ids.
    audited = Counter((e.transaction.value, e.remote.home_community_id) for e in transactions(database))
    assert audited == Counter(
        {("ITI-55", HEALTHY): 1, ("ITI-38", HEALTHY): 1, ("ITI-39", HEALTHY): 1,
         ("ITI-55", NOBODY): 1, ("ITI-55", BROKEN): 1, ("ITI-55", SLOW): 1}
    )  # fmt: skip
    for event in transactions(database):
        assert event.direction is Direction.INITIATING
        assert event.requestor.npi == "1234567893"
        assert event.requestor.assertion_id
        assert event.requestor.purpose_of_use is not None
        assert event.requestor.purpose_of_use.code == "TREATMENT"
        assert event.requestor.home_community_id == CALLER
        assert event.message_id
        assert event.latency_ms is not None
        assert event.patients[0].role is PatientIdRole.LOCAL
        assert event.job_id == str(summary.job_id)  # which pull sent it: the job's trail holds its exchanges
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic"))
        assert tenant is not None
        records = [
            r for r in iter_records(session, tenant, AuditFilter()) if isinstance(r.event, TransactionEvent)
        ]
    for record in records:  # exported (FHIR BALP) with the job as an entity
        balp = to_fhir_audit_event(record, AuditSource(source_id="hie-gateway", site="test"))
        assert {"value": str(summary.job_id)} in [e.get("what", {}).get("identifier") for e in balp["entity"]]
    retrieve = next(e for e in transactions(database) if e.transaction.value == "ITI-39")
    assert sorted(d.unique_id for d in retrieve.documents) == sorted(network.documents)
    assert {p.role for p in retrieve.patients} == {PatientIdRole.LOCAL, PatientIdRole.REMOTE}
    outcomes = {
        e.remote.home_community_id: e.outcome
        for e in transactions(database)
        if e.transaction.value == "ITI-55"
    }
    assert outcomes[BROKEN] is Outcome.SERIOUS_FAILURE
    assert outcomes[HEALTHY] is Outcome.SUCCESS

    kinds = Counter(e.kind for e in events)
    assert kinds[EventKind.GATEWAY_ASKED] == 4
    assert kinds[EventKind.JOB_FINISHED] == 1
    assert events[-1].counters.documents_retrieved == 2

    # The benchmark's CPU split: the exchanges metered, and the pull's own threads' CPU once it closed.
    assert service.cpu.exchanges == 6
    # Each attempt is a newly signed request (its own MessageID and Timestamp): BROKEN's two retries add two.
    assert service.cpu.messages == 8
    assert service.cpu.ns > 0
    # The whole exchanges (TLS and HTTP too) hold their building, signing, checking and parsing.
    assert service.cpu.exchange_ns > service.cpu.ns
    assert set(service.cpu.threads) == {"writer", "convert"}
    assert service.cpu.threads["writer"] > 0  # every step, audit record and commit
    assert service.cpu.threads["convert"] > 0  # two documents converted, the record consolidated


def test_second_pull_reuses_links_and_fetches_only_new_documents(
    network: Network, database: Database
) -> None:
    import_directory(network, database)
    service = make_service(network, database, breaker=BreakerPolicy(failure_threshold=10, recovery_seconds=1))
    first = asyncio.run(service.pull(request_for(network)))
    resources_before = first.counters.resources_stored
    hits_before = network.nodes[HEALTHY].hits.copy()
    new_document = network.nodes[HEALTHY].add_document(3, 3)

    second = asyncio.run(service.pull(request_for(network)))
    healthy = by_gateway(second)[HEALTHY]
    assert healthy.link_reused
    assert healthy.outcome is GatewayOutcome.OK
    hits = network.nodes[HEALTHY].hits - hits_before
    assert hits == Counter({"/xca/query": 1, "/xca/retrieve": 1})  # no ITI-55 for a linked community
    assert (second.counters.documents_found, second.counters.documents_retrieved) == (3, 1)
    assert second.counters.documents_reused == 0 or second.counters.documents_found == 3
    assert count(database, RawDocument) == 3
    assert count(database, PatientLink) == 1
    retrieves = [e for e in transactions(database) if e.transaction.value == "ITI-39"]
    assert [d.unique_id for d in retrieves[-1].documents] == [new_document]
    with database.session() as session:
        states = Counter(
            (d.state, d.reused)
            for d in session.scalars(select(PullJobDocument).where(PullJobDocument.job_id == second.job_id))
        )
    assert states == Counter(
        {(DocumentState.CONVERTED.value, True): 2, (DocumentState.CONVERTED.value, False): 1}
    )
    assert second.counters.resources_stored > resources_before
    with database.session() as session:
        scopes = session.scalars(select(FhirResource.scope).distinct()).all()
    assert len([s for s in scopes if s.startswith("doc:")]) == 3


def test_circuit_opens_after_repeated_failures_and_recovers(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    now = [0.0]
    service.breakers = CircuitBreakers(
        BreakerPolicy(failure_threshold=3, recovery_seconds=30), clock=lambda: now[0]
    )
    first = asyncio.run(service.pull(request_for(network)))
    assert by_gateway(first)[BROKEN].outcome is GatewayOutcome.FAILED  # type: ignore[attr-defined]
    assert service.breakers.get(BROKEN).state is BreakerState.OPEN

    second = asyncio.run(service.pull(request_for(network)))
    broken = by_gateway(second)[BROKEN]
    assert (broken.outcome, broken.error_code) == (GatewayOutcome.CIRCUIT_OPEN, "HG-6014")  # type: ignore[attr-defined]
    assert network.nodes[BROKEN].hits["/xcpd"] == 3  # skipped: nothing sent
    audited = Counter(
        e.remote.home_community_id for e in transactions(database) if e.transaction.value == "ITI-55"
    )
    assert audited[BROKEN] == 1  # a skipped gateway is no exchange

    now[0] += 31  # half-open: one trial call goes out; the gateway is fine again
    network.nodes[BROKEN].mode = "ok"
    third = asyncio.run(service.pull(request_for(network)))
    recovered = by_gateway(third)[BROKEN]
    assert recovered.outcome is GatewayOutcome.OK  # type: ignore[attr-defined]
    assert network.nodes[BROKEN].hits["/xcpd"] == 4
    assert service.breakers.get(BROKEN).state is BreakerState.CLOSED


@pytest.mark.parametrize("cap", [1, 2])
def test_explicit_selection_with_a_cap_is_recorded_with_the_job(
    network: Network, database: Database, cap: int
) -> None:
    from dataclasses import replace

    from gateway.directory import SelectionSpec, SelectionStrategy
    from gateway.store import PullJob

    import_directory(network, database)
    service = make_service(network, database)
    spec = SelectionSpec(
        strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY, NOBODY, "1.2.3.4"), cap=cap
    )
    summary = asyncio.run(service.pull(replace(request_for(network), selection=spec)))
    assert [g.home_community_id for g in summary.gateways] == [HEALTHY, NOBODY][:cap]
    with database.session() as session:
        job = session.get(PullJob, summary.job_id)
        assert job is not None
        assert job.selection["strategy"] == "explicit"
        assert job.selection["excluded"]["1.2.3.4"] == "not in the directory"
        assert len(job.selection["chosen"]) == cap
