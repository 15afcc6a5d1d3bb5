"""The record is published once only overdue requests remain; late answers are merged into it as their
gateways finish (or when the job ends).

The account itself (:class:`SettleWatch`) runs on a fake clock; the pulls run against the test network's real
gateways, and assert the order of events (the record before the hanging or slow gateway's end), never a
duration.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import select

from gateway.audit import AuditFilter, PullJobEvent, PullStage, Transaction, iter_records
from gateway.directory import PartnersConfig, parse_partners
from gateway.initiating import (
    EventKind,
    GatewayOutcome,
    JobState,
    Listener,
    ProgressEvent,
    PullService,
    PullSummary,
    SettlePolicy,
)
from gateway.initiating.settle import SettleWatch
from gateway.sandbox.documents import pdf_note
from gateway.store import Database, PullJob, PullJobGateway, Tenant
from tests.gateway.initiating.conftest import (
    BROKEN,
    HEALTHY,
    NOBODY,
    SLOW,
    Network,
    import_directory,
    make_service,
    request_for,
)
from xca.errors import ExchangeError, GatewayConnectError, GatewayTimeoutError, GatewayTlsError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def watch() -> tuple[SettleWatch, Clock]:
    clock = Clock()
    return SettleWatch(SettlePolicy(factor=1.1, margin_s=0.3), clock=clock), clock


def test_due_once_the_only_work_left_is_overdue(watch: tuple[SettleWatch, Clock]) -> None:
    settle, clock = watch
    with settle.working(), settle.working(), settle.request("hung", Transaction.ITI_55):
        with settle.request("fast", Transaction.ITI_55) as wait:
            clock.now += 1.0
            # Nobody answered an ITI-55 yet: nothing to compare with, the partner timeout decides.
            assert settle.due_in() is None
            wait.note(None, 1)
        # "fast" answered after 1 s and is working again (persisting its answer): not due.
        assert settle.due_in() is None
        with settle.idle():
            # Only "hung" is left, asked 1 s ago; due at 1.1 x 1 s + 0.3 s after it was asked.
            assert settle.due_in() == pytest.approx(0.4)
            assert settle.waiting_gateways() == frozenset({"hung"})
            clock.now += 0.4
            assert settle.due_in() == pytest.approx(0.0)
            settle.close()
            assert settle.due_in() is None


def test_a_fanout_request_waits_from_when_the_fanout_asked(watch: tuple[SettleWatch, Clock]) -> None:
    settle, clock = watch
    fanout = settle.now()
    with settle.working(), settle.working():
        with settle.request("fast", Transaction.ITI_55, asked_at=fanout) as wait:
            clock.now += 1.0
            wait.note(None, 1, 1000)
        # The event loop reached "hung" 0.25 s after the fan-out began (signing the others first): it was
        # asked with them, so it is due 1.1 x 1 s + 0.3 s after the fan-out, not after its own turn.
        clock.now = fanout + 0.25
        with settle.request("hung", Transaction.ITI_55, asked_at=fanout), settle.idle():
            clock.now = fanout + 1.0
            assert settle.due_in() == pytest.approx(0.4)
        # A request asked later than the fan-out (a second discovery after a dropped link) waits from then.
        with settle.request("again", Transaction.ITI_55), settle.idle():
            assert settle.due_in() == pytest.approx(1.4)
        # An ``asked_at`` in the future (a caller's mistake) is not believed: never later than now.
        with settle.request("odd", Transaction.ITI_55, asked_at=clock.now + 60), settle.idle():
            assert settle.due_in() == pytest.approx(1.4)


def test_only_a_first_attempt_answered_measures(watch: tuple[SettleWatch, Clock]) -> None:
    settle, clock = watch
    with settle.working(), settle.working(), settle.request("b", Transaction.ITI_38):
        with settle.request("a", Transaction.ITI_38) as wait:
            clock.now += 30.0
            wait.note(GatewayTimeoutError("no answer within the partner's timeout"), 1)
        with settle.idle():
            assert settle.due_in() is None  # a timed-out ITI-38 sets no reference
        with settle.request("a", Transaction.ITI_38) as wait:
            clock.now += 2.0
            wait.note(None, 2)  # answered after a retry: two answers and a backoff, no reference
        with settle.idle():
            assert settle.due_in() is None
        for refused in (
            GatewayTlsError("TLS: the gateway's certificate was refused (certificate has expired)"),
            GatewayConnectError("connection failed: connection refused"),
        ):
            with settle.request("a", Transaction.ITI_38) as wait:
                clock.now += 0.01
                wait.note(refused, 1)  # the connection failed at once: no answer of the gateway's service
            with settle.idle():
                assert settle.due_in() is None
        with settle.request("a", Transaction.ITI_38) as wait:
            clock.now += 0.5
            wait.note(ExchangeError("HTTP 500 without a SOAP answer"), 1)  # an answer, however bad
        with settle.idle():
            # "b" was asked 32.52 s ago; the slowest ITI-38 answer took 0.5 s: long overdue.
            assert settle.due_in() == 0.0


def test_a_failed_request_is_retried_until_the_record_is_due(watch: tuple[SettleWatch, Clock]) -> None:
    settle, clock = watch
    with settle.working(), settle.request("late", Transaction.ITI_55) as late:
        with settle.working():  # another gateway's coroutine
            with settle.request("fast", Transaction.ITI_55) as fast:
                clock.now += 1.0
                assert late.worth_retrying()  # no ITI-55 answered yet: nothing to compare with
                fast.note(None, 1)
            clock.now += 0.41  # "late" has waited 1.41 s: overdue after 1.1 x 1 s + 0.3 s ...
            assert late.worth_retrying()  # ... but the other gateway still works: the job goes on anyway
        # Nobody works and the only request left is overdue: the record is due, no more retries.
        assert not late.worth_retrying()
        with settle.request("other", Transaction.ITI_38):
            assert late.worth_retrying()  # a request nobody can judge yet keeps the job going
    off = SettleWatch(SettlePolicy(enabled=False), clock=clock)
    with off.working(), off.request("a", Transaction.ITI_55) as a:
        with off.working(), off.request("b", Transaction.ITI_55) as b:
            b.note(None, 1)
        clock.now += 100
        assert a.worth_retrying()  # without the rule, the partner's settings alone decide


def test_a_disabled_policy_never_publishes_early() -> None:
    clock = Clock()
    settle = SettleWatch(SettlePolicy(enabled=False), clock=clock)
    with settle.working(), settle.working(), settle.request("b", Transaction.ITI_55):
        with settle.request("a", Transaction.ITI_55) as wait:
            clock.now += 0.1
            wait.note(None, 1)
        with settle.idle():
            clock.now += 100
            assert settle.due_in() is None


def _late_rows(database: Database) -> dict[str, bool]:
    with database.session() as session:
        return {r.home_community_id: r.late for r in session.scalars(select(PullJobGateway))}


def _pull_stages(database: Database) -> list[tuple[PullStage, int]]:
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic"))
        assert tenant is not None
        events = [r.event for r in iter_records(session, tenant, AuditFilter())]
    return [(e.stage, len(e.documents)) for e in events if isinstance(e, PullJobEvent)]


def _holds(bundle: Any, unique_id: str) -> bool:
    """Whether a record Bundle describes the document ``unique_id`` (a DocumentReference's masterIdentifier,
    with or without its ``urn:oid:`` prefix)."""
    held = {
        str(e["resource"].get("masterIdentifier", {}).get("value"))
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    }
    return any(unique_id.endswith(value) or value.endswith(unique_id) for value in held)


def _slow_and_hanging(network: Network, database: Database) -> tuple[threading.Event, PartnersConfig]:
    """SLOW healthy but slow (0.6 s an answer, within its 8 s timeout); NOBODY's discovery hangs until its
    6 s partner timeout, three times what the slow chains need on an idle machine, so that a loaded CI
    machine still sees them finish first (or until the returned gate is set: set it when done). The
    directory is imported."""
    network.nodes[SLOW].delay = 0.6
    gate = threading.Event()
    network.nodes[NOBODY].holds["/xcpd"] = gate
    import_directory(network, database)
    partners = parse_partners(
        "[defaults]\nread_timeout = 8.0\ntotal_timeout = 8.0\n"
        f'[partner."{NOBODY}"]\nread_timeout = 6.0\ntotal_timeout = 6.0\n'
    )
    return gate, partners


def test_a_hanging_gateway_does_not_hold_the_record(network: Network, database: Database) -> None:
    # SLOW answers after 5 s and its partner gives up after 2.5 s: it hangs as far as the pull can tell. The
    # record must come before that timeout: 2.5 s leaves HEALTHY's chain and conversion room on a machine at
    # half its speed (1 s did not, once).
    network.nodes[SLOW].delay = 5.0
    import_directory(network, database)
    service = make_service(network, database)
    service.partners = parse_partners(
        "[defaults]\nconnect_timeout = 2.0\nread_timeout = 5.0\ntotal_timeout = 8.0\n"
        "retrieve_batch_size = 5\nmax_attempts = 3\n"
        f'[partner."{SLOW}"]\nread_timeout = 2.5\ntotal_timeout = 2.5\n'
    )
    events: list[ProgressEvent] = []
    summary = asyncio.run(service.pull(request_for(network), listeners=[events.append]))

    assert summary.state is JobState.DONE
    kinds = [(e.kind, e.gateway.home_community_id if e.gateway else None) for e in events]
    ready = kinds.index((EventKind.RECORD_READY, None))
    slow_end = next(
        i
        for i, e in enumerate(events)
        if e.gateway and e.gateway.home_community_id == SLOW and e.gateway.outcome
    )
    assert ready < slow_end  # the record came before the hanging gateway's timeout
    record = events[ready].counters
    assert (record.documents_converted, record.resources_stored) == (2, summary.counters.resources_stored)
    assert summary.record_ms is not None
    gateways = {g.home_community_id: g for g in summary.gateways}
    assert (gateways[SLOW].outcome, gateways[SLOW].late) == (GatewayOutcome.TIMEOUT, True)
    assert not gateways[HEALTHY].late
    assert _late_rows(database)[SLOW] is True
    assert summary.bundle is not None
    assert len(summary.bundle["entry"]) == summary.counters.resources_stored  # type: ignore[arg-type]
    # Audited twice: the record as published (its two documents), then the completed job.
    assert _pull_stages(database)[-2:] == [(PullStage.RECORD_READY, 2), (PullStage.COMPLETED, 2)]


@pytest.mark.parametrize("early", [True, False], ids=["settle-rule", "no-early-record"])
def test_a_gateway_failing_after_the_others_answered_is_not_retried(
    network: Network, database: Database, early: bool
) -> None:
    # BROKEN answers HTTP 500 after 2 s, long after HEALTHY and NOBODY were done (SLOW times out after 1 s,
    # which measures nothing): when it fails nobody else works and its request is overdue, so the record is
    # due, and a retry (max_attempts 3) would hold the job's end to two more of its slow failures. With the
    # rule off, it is retried as before.
    network.nodes[BROKEN].delay = 2.0
    import_directory(network, database)
    service = make_service(network, database, settle=SettlePolicy(enabled=early))
    summary = asyncio.run(service.pull(request_for(network)))

    gateways = {g.home_community_id: g for g in summary.gateways}
    assert gateways[BROKEN].outcome is GatewayOutcome.FAILED
    assert network.nodes[BROKEN].hits["/xcpd"] == (1 if early else 3)
    assert network.nodes[HEALTHY].hits["/xca/retrieve"] >= 1  # the healthy gateway's work was not cut short


def test_late_answers_are_merged_into_the_record(network: Network, database: Database) -> None:
    # SLOW is healthy, only slow: every answer 1.5 s late, within a partner timeout of 8 s; it holds a
    # document of the patient.
    slow = network.nodes[SLOW]
    slow.delay = 1.5
    late_document = slow.add_document(3, 1)
    import_directory(network, database)
    service = make_service(network, database)
    service.partners = parse_partners("[defaults]\nread_timeout = 8.0\ntotal_timeout = 8.0\n")
    events: list[ProgressEvent] = []
    summary = asyncio.run(service.pull(request_for(network), listeners=[events.append]))

    assert summary.state is JobState.DONE
    ready = next(e for e in events if e.kind is EventKind.RECORD_READY)
    assert ready.counters.documents_converted == 2  # HEALTHY's two; SLOW was still asked
    assert summary.counters.documents_converted == 3
    assert summary.counters.resources_stored > ready.counters.resources_stored
    gateways = {g.home_community_id: g for g in summary.gateways}
    assert (gateways[SLOW].outcome, gateways[SLOW].late, gateways[SLOW].documents_retrieved) == (
        GatewayOutcome.OK,
        True,
        1,
    )
    assert summary.bundle is not None
    assert _holds(summary.bundle, late_document)
    assert _pull_stages(database)[-2:] == [(PullStage.RECORD_READY, 2), (PullStage.COMPLETED, 3)]


def test_a_late_gateway_updates_the_record_when_it_is_done(network: Network, database: Database) -> None:
    # SLOW is healthy, only slow (0.6 s an answer) and holds a document; NOBODY hangs until its partner
    # timeout (6 s). The record comes out once only those two are asked (HEALTHY answered in milliseconds),
    # then again when SLOW is done: with its document, before NOBODY gives up. SLOW's document query waits
    # until the record is out, so that a loaded machine (HEALTHY's conversion slower than SLOW's whole chain,
    # once in CI) cannot let SLOW finish first; the settle rule alone must find its request overdue.
    late_document = network.nodes[SLOW].add_document(20, 1)  # the oldest document of the record (dated first)
    gate, partners = _slow_and_hanging(network, database)
    slow_query = network.nodes[SLOW].holds["/xca/query"] = threading.Event()
    service = make_service(network, database)
    service.partners = partners
    events: list[ProgressEvent] = []
    published: set[str] = set()

    def read_early(event: ProgressEvent) -> None:
        if event.kind is EventKind.RECORD_READY:  # what a client reads from the early record
            published.update(e["resource"]["id"] for e in service.record(event.job_id)["entry"])  # type: ignore[index, union-attr]
            slow_query.set()

    try:
        summary = asyncio.run(service.pull(request_for(network), listeners=[events.append, read_early]))
    finally:
        gate.set()
        slow_query.set()

    assert summary.state is JobState.DONE
    kinds = [e.kind for e in events]
    ready, updated = kinds.index(EventKind.RECORD_READY), kinds.index(EventKind.RECORD_UPDATED)
    nobody_end = next(
        i
        for i, e in enumerate(events)
        if e.gateway and e.gateway.home_community_id == NOBODY and e.gateway.outcome
    )
    slow_end = next(
        i
        for i, e in enumerate(events)
        if e.gateway and e.gateway.home_community_id == SLOW and e.gateway.outcome
    )
    assert ready < slow_end < updated < nobody_end
    assert kinds.count(EventKind.RECORD_UPDATED) == 1
    assert events[ready].counters.documents_converted == 2
    assert events[updated].counters.documents_converted == 3
    assert events[updated].counters.resources_stored == summary.counters.resources_stored
    gateways = {g.home_community_id: g for g in summary.gateways}
    assert (gateways[SLOW].outcome, gateways[SLOW].late) == (GatewayOutcome.OK, True)
    assert (gateways[NOBODY].outcome, gateways[NOBODY].late) == (GatewayOutcome.TIMEOUT, True)
    # The record read back after the update holds the late document; the job's end had nothing to add.
    record = service.record(summary.job_id)
    assert _holds(record, late_document)
    # Ids a client read from the early record are still there after the older, late document was merged.
    assert published
    assert published <= {e["resource"]["id"] for e in record["entry"]}  # type: ignore[index, union-attr]
    assert _pull_stages(database)[-3:] == [
        (PullStage.RECORD_READY, 2),
        (PullStage.RECORD_UPDATED, 3),
        (PullStage.COMPLETED, 3),
    ]


def test_no_empty_record_is_published_while_gateways_are_still_asked(
    network: Network, database: Database
) -> None:
    # The only gateway holding the patient's documents (HEALTHY) is slow, 0.6 s an answer; the others have
    # nothing to add and answer at once (SLOW matches and lists no document, BROKEN fails); NOBODY hangs
    # until its 6 s timeout. When the fast ones are done nothing is held: a "record ready" then would send
    # clients to an empty record while HEALTHY, which holds it all, is still being asked.
    network.nodes[SLOW].delay = 0.0
    network.nodes[HEALTHY].delay = 0.6
    gate = threading.Event()
    network.nodes[NOBODY].holds["/xcpd"] = gate
    import_directory(network, database)
    service = make_service(network, database)
    service.partners = parse_partners(
        "[defaults]\nread_timeout = 8.0\ntotal_timeout = 8.0\n"
        f'[partner."{NOBODY}"]\nread_timeout = 6.0\ntotal_timeout = 6.0\n'
    )
    events: list[ProgressEvent] = []
    try:
        summary = asyncio.run(service.pull(request_for(network), listeners=[events.append]))
    finally:
        gate.set()

    assert summary.state is JobState.DONE
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.RECORD_READY) == 1
    ready = kinds.index(EventKind.RECORD_READY)
    nobody_end = next(
        i
        for i, e in enumerate(events)
        if e.gateway and e.gateway.home_community_id == NOBODY and e.gateway.outcome
    )
    assert ready < nobody_end  # still published early, with HEALTHY's documents
    assert events[ready].counters.documents_converted == 2
    assert events[ready].counters.resources_stored == summary.counters.resources_stored
    gateways = {g.home_community_id: g for g in summary.gateways}
    assert (gateways[NOBODY].outcome, gateways[NOBODY].late) == (GatewayOutcome.TIMEOUT, True)
    assert _pull_stages(database)[-2:] == [(PullStage.RECORD_READY, 2), (PullStage.COMPLETED, 2)]


class _Crash(BaseException):
    """Stands in for a kill (not an Exception: nothing in the worker handles it)."""


def _resume(
    network: Network,
    database: Database,
    partners: PartnersConfig,
    job_id: uuid.UUID,
    listener: Listener | None = None,
) -> tuple[PullService, PullSummary]:
    """A new service (a new process, after the crash) runs the job again."""
    resumed = make_service(network, database)
    resumed.partners = partners
    listeners = [listener] if listener is not None else []
    return resumed, asyncio.run(resumed.run(job_id, listeners=listeners))


def _published_crashed_resumed(
    network: Network, database: Database
) -> tuple[uuid.UUID, PullService, dict[str, object], list[ProgressEvent], PullSummary]:
    """SLOW slow and healthy, NOBODY hanging (:func:`_slow_and_hanging`); the process dies right after the
    record is published, and a new service resumes the job. SLOW's document query waits for the record (so
    that SLOW cannot be done before it on a loaded machine). Returns the job, the resuming service, the
    record as the first run published it, the resumed run's events and its summary."""
    gate, partners = _slow_and_hanging(network, database)
    slow_query = network.nodes[SLOW].holds["/xca/query"] = threading.Event()
    first = make_service(network, database)
    first.partners = partners
    job_id = first.create_job(request_for(network))
    published: list[bool] = []

    def crash_after_publishing(step: str) -> None:
        if published:
            raise _Crash(step)

    def on_event(event: ProgressEvent) -> None:
        if event.kind is EventKind.RECORD_READY:
            published.append(True)
            slow_query.set()

    try:
        with pytest.raises((_Crash, BaseExceptionGroup)):
            asyncio.run(first.run(job_id, listeners=[on_event], step_hook=crash_after_publishing))
        assert published
        before = first.record(job_id)
        events: list[ProgressEvent] = []
        resumed, summary = _resume(network, database, partners, job_id, events.append)
    finally:
        gate.set()
        slow_query.set()
    return job_id, resumed, before, events, summary


def test_a_job_resumed_after_its_record_was_published_updates_it(
    network: Network, database: Database
) -> None:
    # As above (SLOW slow and healthy, NOBODY hanging), but the process dies right after the record is
    # published. The resumed run has no answers of its own to judge overdue requests by: it must not hold the
    # record back (nor publish it as new), only update it when SLOW is done.
    late_document = network.nodes[SLOW].add_document(3, 1)
    job_id, resumed, _, events, summary = _published_crashed_resumed(network, database)

    assert summary.state is JobState.DONE
    kinds = [e.kind for e in events]
    assert EventKind.RECORD_READY not in kinds  # published once, by the first run
    updated = kinds.index(EventKind.RECORD_UPDATED)
    nobody_end = next(
        i
        for i, e in enumerate(events)
        if e.gateway and e.gateway.home_community_id == NOBODY and e.gateway.outcome
    )
    assert updated < nobody_end  # not held until the hanging gateway's timeout
    assert events[updated].counters.documents_converted == 3
    assert _holds(resumed.record(job_id), late_document)
    stages = [stage for stage, _ in _pull_stages(database)]
    assert stages.count(PullStage.RECORD_READY) == 1
    assert stages[-2:] == [PullStage.RECORD_UPDATED, PullStage.COMPLETED]


def test_a_resumed_job_with_nothing_new_leaves_its_published_record_alone(
    network: Network, database: Database
) -> None:
    """The process died right after publishing the record, and nothing the resumed run finds adds to it
    (SLOW holds nothing of the patient, NOBODY hangs): no "record updated" is announced, audited or sent
    to webhooks for the same record."""
    job_id, resumed, before, events, summary = _published_crashed_resumed(network, database)

    assert summary.state is JobState.DONE
    kinds = [e.kind for e in events]
    assert EventKind.RECORD_READY not in kinds
    assert EventKind.RECORD_UPDATED not in kinds
    stages = [stage for stage, _ in _pull_stages(database)]
    assert stages.count(PullStage.RECORD_UPDATED) == 0
    assert stages[-2:] == [PullStage.RECORD_READY, PullStage.COMPLETED]
    after = resumed.record(job_id)
    assert [e["resource"]["id"] for e in after["entry"]] == [e["resource"]["id"] for e in before["entry"]]  # type: ignore[index]


def test_a_document_stored_after_the_record_and_before_a_crash_is_in_the_resumed_record(
    network: Network, database: Database
) -> None:
    """SLOW's PDF (described, not converted) is stored after the early record was published; the process
    dies before the update that would add it. The resumed run finds nothing new to convert, yet the record
    it ends with holds the PDF: the published record is judged by the documents it was made of."""
    pdf_id = network.nodes[SLOW].add_file(
        7, pdf_note("Scanned note", ["Synthetic."]), mime_type="application/pdf", title="Scanned"
    )
    gate, partners = _slow_and_hanging(network, database)
    first = make_service(network, database)
    first.partners = partners
    job_id = first.create_job(request_for(network))
    published: list[bool] = []
    gone: list[bool] = []
    publish = first.store.publish_record

    def publish_unless_gone(*args: Any, **kwargs: Any) -> Any:
        if gone:  # the process is dead: nothing after the crash commits
            raise _Crash("publish")
        return publish(*args, **kwargs)

    def crash_at_the_next_document(step: str) -> None:
        if published and step == "convert":
            gone.append(True)
            raise _Crash(step)

    def on_event(event: ProgressEvent) -> None:
        if event.kind is EventKind.RECORD_READY:
            published.append(True)

    first.store.publish_record = publish_unless_gone  # type: ignore[method-assign]
    try:
        with pytest.raises((_Crash, BaseExceptionGroup)):
            asyncio.run(first.run(job_id, listeners=[on_event], step_hook=crash_at_the_next_document))
        assert gone
        assert not _holds(first.record(job_id), pdf_id)  # stored, not yet in the published record
        resumed, summary = _resume(network, database, partners, job_id)
    finally:
        gate.set()

    assert summary.state is JobState.DONE
    assert _holds(resumed.record(job_id), pdf_id)


def test_a_job_resumed_before_its_record_judges_by_the_answers_before_too(
    network: Network, database: Database
) -> None:
    """HEALTHY and SLOW answered discovery (BROKEN failed), then the process died (its record not yet
    published); the resumed run asks again only NOBODY, which hangs. With none of this run's discovery
    answers to compare with, the record would wait for NOBODY's 6 s timeout: the answers the job had before
    the interruption count."""
    gate, partners = _slow_and_hanging(network, database)
    first = make_service(network, database, settle=SettlePolicy(enabled=False))  # no record before the crash
    first.partners = partners
    job_id = first.create_job(request_for(network))
    discovered: list[str] = []

    def crash_after_three_discoveries(step: str) -> None:
        if step == "iti55":
            discovered.append(step)
            if len(discovered) == 3:  # HEALTHY's, BROKEN's and SLOW's outcomes are stored; NOBODY hangs
                raise _Crash(step)

    try:
        with pytest.raises((_Crash, BaseExceptionGroup)):
            asyncio.run(first.run(job_id, step_hook=crash_after_three_discoveries))
        with database.session() as session:
            answered = {
                row.home_community_id: row.answered_ms
                for row in session.scalars(select(PullJobGateway).where(PullJobGateway.job_id == job_id))
            }
        assert answered[SLOW] is not None, answered
        assert answered[SLOW][Transaction.ITI_55.value] >= 600  # its 0.6 s, as the transport measured it
        assert answered[NOBODY] is None  # no answer: nothing measured
        assert answered[BROKEN] is None  # a connection refused measures the network, not the gateway
        events: list[ProgressEvent] = []
        _, summary = _resume(network, database, partners, job_id, events.append)
    finally:
        gate.set()

    assert summary.state is JobState.DONE
    kinds = [e.kind for e in events]
    ready = kinds.index(EventKind.RECORD_READY)
    nobody_end = next(
        i
        for i, e in enumerate(events)
        if e.gateway and e.gateway.home_community_id == NOBODY and e.gateway.outcome
    )
    assert ready < nobody_end  # not held until the hanging gateway's timeout
    gateways = {g.home_community_id: g for g in summary.gateways}
    assert (gateways[NOBODY].outcome, gateways[NOBODY].late) == (GatewayOutcome.TIMEOUT, True)


def test_without_early_record_the_job_publishes_at_its_end(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database, settle=SettlePolicy(enabled=False))
    events: list[ProgressEvent] = []
    summary = asyncio.run(service.pull(request_for(network), listeners=[events.append]))

    assert summary.state is JobState.DONE
    assert EventKind.RECORD_READY not in {e.kind for e in events}
    assert summary.record_ms is None
    assert not any(g.late for g in summary.gateways)
    assert [stage for stage, _ in _pull_stages(database)][-1] is PullStage.COMPLETED
    assert PullStage.RECORD_READY not in [stage for stage, _ in _pull_stages(database)]


def test_the_status_of_a_running_job_links_its_published_record() -> None:
    from types import SimpleNamespace

    from fhir_facade.api.pull import status_body

    patient = uuid.uuid4()
    job = PullJob(id=uuid.uuid4(), patient_id=patient, state=JobState.RETRIEVING.value, record_ms=None)
    gateway = PullJobGateway(home_community_id=SLOW, name="slow", stage="pending", late=True,
                             documents_found=0, documents_retrieved=0)  # fmt: skip
    context: Any = SimpleNamespace(base_url="https://hiegate.test/fhir")

    def parts(body: dict[str, Any]) -> dict[str, Any]:
        return {p["name"]: p for p in body["parameter"]}

    running = parts(status_body(context, job, []))
    assert "everything" not in running
    assert "recordReadyMs" not in running
    job.record_ms = 1234
    published = status_body(context, job, [gateway])
    Parameters.model_validate(published)
    found = parts(published)
    assert found["recordReadyMs"]["valueInteger"] == 1234
    assert found["everything"]["valueUri"] == f"https://hiegate.test/fhir/Patient/{patient}/$everything"
    assert {"name": "late", "valueBoolean": True} in found["gateway"]["part"]


def test_the_reference_is_the_partners_time_to_answer(watch: tuple[SettleWatch, Clock]) -> None:
    settle, clock = watch
    with settle.working(), settle.working(), settle.request("hung", Transaction.ITI_55):
        with settle.request("fast", Transaction.ITI_55) as wait:
            clock.now += 1.0  # 0.8 s of it spent here before sending (a busy loop), 0.2 s by the partner
            wait.note(None, 1, latency_ms=200)
        with settle.idle():
            # "hung" was asked 1 s ago: due 1.1 x 0.2 s + 0.3 s after it was asked, i.e. 0.48 s ago.
            assert settle.due_in() == 0.0
