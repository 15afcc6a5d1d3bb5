"""The persisted pull steps, driven directly (no network): every kind of step in group-committed batches, and
what they leave in the database (gateway and document rows, links, counters, audit records) and report.

:func:`run_scenario` returns a snapshot per batch (rows without their varying ids and times; a timestamp only
as whether the batch touched it), so two versions of the steps can be compared on the same scenario.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import select, text

from gateway.audit import AuditLog, AuditSource, RemotePeer, Transaction
from gateway.audit.verify import verify_chain
from gateway.directory import Community, Selection, SelectionSpec
from gateway.directory.selection import SelectedGateway
from gateway.initiating.evaluate import MatchDecision, PatientMatch, RejectCode
from gateway.initiating.exchange import ExchangeRecord
from gateway.initiating.jobs import JobStore, Progress
from gateway.initiating.jobs.base import Step, StepOutcome
from gateway.initiating.models import DocumentState, GatewayStage, JobState, PullRequest
from gateway.security import NhinPurpose, Organization, RequestingUser, Role
from gateway.store import Database, PatientLink, PullJob, PullJobDocument, RawDocument, Tenant
from gateway.store.models import utcnow
from xca import iti38, iti39
from xca.errors import CircuitOpenError, ExchangeError, GatewayTimeoutError
from xca.ids import Cx
from xca.iti55 import AdministrativeGender, Demographics, PersonName
from xca.iti55.models import Ii
from xca.registry import RegistryError, ResponseStatus

HOME = "1.3.6.1.4.1.99999.800"
AUTHORITY = "1.3.6.1.4.1.99999.800.1"
GATEWAYS = [f"1.3.6.1.4.1.99999.{810 + n}" for n in range(12)]
G = dict(enumerate(GATEWAYS))
DEMOGRAPHICS = Demographics(
    names=(PersonName(given=("Ada",), family="Steps"),),
    gender=AdministrativeGender.FEMALE,
    birth_date=dt.date(1970, 2, 3),
)
USER = RequestingUser(
    user_id="dr.steps@clinic.example",
    name="Dr. Steps",
    role=Role.physician(),
    organization=Organization("Steps Clinic", HOME),
    purpose_of_use=NhinPurpose.TREATMENT,
)
WHEN = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


def _store(database: Database) -> JobStore:
    audit = AuditLog(source=AuditSource(source_id=HOME, site="Steps Clinic", home_community_id=HOME))
    return JobStore(
        database,
        audit,
        tenant="steps",
        organization_name="Steps Clinic",
        assigning_authority=AUTHORITY,
        home_community_id=HOME,
        worker="steps-host:1",
    )


def _record(n: int, transaction: Transaction, *, attempts: int = 1) -> ExchangeRecord:
    return ExchangeRecord(
        transaction=transaction,
        endpoint=f"https://gw{n}.example/{transaction.value}",
        message_id=f"urn:uuid:00000000-0000-0000-0000-{n:012d}",
        assertion_id=f"_assertion{n}",
        relates_to=f"urn:uuid:10000000-0000-0000-0000-{n:012d}",
        attempts=attempts,
        latency_ms=100 + n,
        request_bytes=1000 + n,
        response_bytes=2000 + n,
        occurred_at=WHEN + dt.timedelta(seconds=n),
    )


def _remote(n: int) -> RemotePeer:
    return RemotePeer(home_community_id=G[n], endpoint=f"https://gw{n}.example/", organization=f"Gateway {n}")


def _match(n: int, score: int = 95) -> MatchDecision:
    patient = PatientMatch(
        patient_id=Ii(f"{G[n]}.5", f"R{n}"), home_community_id=G[n], demographics=DEMOGRAPHICS
    )
    return MatchDecision(patient, score=score)


def _reject(code: RejectCode, reason: str, score: int | None = None) -> MatchDecision:
    return MatchDecision(None, code=code, reason=reason, score=score, error_codes=(f"code-{code.value}",))


def _content(n: int) -> bytes:
    return f"<ClinicalDocument n='{n}'/>".encode()


def _entry(n: int, doc: int, **overrides: Any) -> iti38.DocumentEntry:
    content = _content(doc)
    values: dict[str, Any] = {
        "entry_uuid": f"urn:uuid:20000000-0000-0000-0000-{doc:012d}",
        "unique_id": f"1.2.3.{doc}",
        "home_community_id": G[n],
        "repository_unique_id": f"{G[n]}.9",
        "mime_type": "text/xml",
        "size": len(content),
        "hash": hashlib.sha1(content).hexdigest(),
        "title": f"Document {doc}",
    }
    values.update(overrides)
    return iti38.DocumentEntry(**values)


def _retrieved(n: int, doc: int, content: bytes | None = None) -> iti39.RetrievedDocument:
    return iti39.RetrievedDocument(G[n], f"{G[n]}.9", f"1.2.3.{doc}", "text/xml", content or _content(doc))


def _seed(database: Database, store: JobStore, job_id: uuid.UUID) -> None:
    """Links from an earlier pull for gateways 7 and 8, and a document of gateway 9 already held for another
    local patient (stored by another job)."""
    with database.session() as session, session.begin():
        job = session.get(PullJob, job_id)
        assert job is not None
        for n in (7, 8):
            session.add(
                PatientLink(
                    tenant_id=job.tenant_id,
                    patient_id=job.patient_id,
                    home_community_id=G[n],
                    remote_patient_id=f"OLD{n}",
                    remote_assigning_authority=f"{G[n]}.5",
                    score=90,
                    created_at=WHEN,
                    last_used_at=WHEN,
                )
            )
    other = Demographics(names=(PersonName(given=("Bob",), family="Other"),), birth_date=dt.date(1960, 1, 1))
    other_job = store.create_job(PullRequest(demographics=other, user=USER), _selection([9]))
    with database.session() as session, session.begin():
        job = session.get(PullJob, other_job)
        assert job is not None
        content = _content(93)
        raw = RawDocument(
            tenant_id=job.tenant_id,
            home_community_id=G[9],
            repository_id=f"{G[9]}.9",
            unique_id="1.2.3.93",
            mime_type="text/xml",
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            content=content,
        )
        session.add(raw)
        session.flush()
        session.add(
            PullJobDocument(
                job_id=other_job,
                home_community_id=G[9],
                repository_id=f"{G[9]}.9",
                unique_id="1.2.3.93",
                state=DocumentState.RETRIEVED.value,
                raw_document_id=raw.id,
                mime_type="text/xml",
            )
        )


def _selection(numbers: Sequence[int]) -> Selection:
    chosen = tuple(SelectedGateway(Community(G[n], f"Gateway {n}")) for n in numbers)
    return Selection(spec=SelectionSpec(), chosen=chosen)


def _broken(session: Any, job: PullJob, tenant: Tenant) -> Any:
    raise ExchangeError("a step that fails", detail={})


_TABLES = {
    "pull_job": "SELECT * FROM pull_job ORDER BY created_at, id",
    "pull_job_gateway": "SELECT * FROM pull_job_gateway ORDER BY job_id, home_community_id",
    "pull_job_document": "SELECT * FROM pull_job_document ORDER BY job_id, home_community_id, unique_id",
    "patient_link": "SELECT * FROM patient_link ORDER BY home_community_id",
    "raw_document": "SELECT * FROM raw_document ORDER BY home_community_id, unique_id",
    "audit_event": "SELECT * FROM audit_event ORDER BY seq",
    "audit_patient": "SELECT * FROM audit_patient ORDER BY seq, position",
}
_DROP = {"hash", "prev_hash", "content", "created_at", "received_at", "request", "selection", "id"}


def _as_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in " T":
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def snapshot(database: Database, since: dt.datetime, labels: dict[str, str]) -> dict[str, Any]:
    """Every row of the pull's tables: ids replaced by labels, a time column by whether it moved since
    ``since``; audit contents decoded (they carry no recording time)."""

    def plain(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, str | bytes) and len(value) in (32, 36):
            key = value.decode() if isinstance(value, bytes) else value
            key = str(uuid.UUID(key)) if _is_uuid(key) else key
            return labels.setdefault(key, f"<id{len(labels)}>") if _is_uuid(key) else value
        if isinstance(value, bytes | memoryview):
            return hashlib.sha256(bytes(value)).hexdigest()
        return value

    out: dict[str, Any] = {}
    with database.engine.connect() as connection:
        for table, sql in _TABLES.items():
            rows = []
            for row in connection.execute(text(sql)).mappings():
                item: dict[str, Any] = {}
                for key, value in row.items():
                    if key == "content" and table == "audit_event":
                        content = json.loads(value)
                        item["content"] = json.loads(
                            json.dumps(content, sort_keys=True, default=str), object_hook=None
                        )
                        continue
                    if key in _DROP:
                        continue
                    moment = _as_time(value)
                    if moment is not None and key not in ("occurred_at",):
                        item[key] = f"touched={moment >= since}"
                    else:
                        item[key] = plain(value)
                rows.append(item)
            out[table] = rows
    # Ids inside audit contents (job ids) are replaced too; rows are then put in an order that does not
    # depend on the ids' random values.
    relabelled: dict[str, list[Any]] = json.loads(
        _relabel(json.dumps(out, sort_keys=True, default=str), labels)
    )
    return {
        table: sorted(rows, key=lambda r: json.dumps(r, sort_keys=True)) for table, rows in relabelled.items()
    }


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) in (32, 36)


def _relabel(dumped: str, labels: dict[str, str]) -> str:
    for key, label in list(labels.items()):
        dumped = dumped.replace(key, label).replace(key.replace("-", ""), label)
    return dumped


def _outcomes(outcomes: list[StepOutcome]) -> list[Any]:
    shown: list[Any] = []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            shown.append(f"{type(outcome).__name__}: {outcome}")
            continue
        progress, value = outcome
        assert isinstance(progress, Progress)
        if isinstance(value, list):
            value = ["<raw document>" if isinstance(v, uuid.UUID) else asdict(v) for v in value]
        shown.append({"progress": asdict(progress), "value": value})
    return shown


def run_scenario(database: Database) -> tuple[JobStore, uuid.UUID, list[dict[str, Any]]]:
    """A 12-gateway job through every kind of step; returns the store, the job and one snapshot per batch."""
    store = _store(database)
    job_id = store.create_job(PullRequest(demographics=DEMOGRAPHICS, user=USER), _selection(range(12)))
    _seed(database, store, job_id)
    plan = store.claim(job_id)
    labels: dict[str, str] = {str(job_id): "<job>", str(plan.patient_id): "<patient>"}
    assert plan.state is JobState.DISCOVERING
    # A full stop in the remote's words is dropped before "after 2 attempts".
    timeout = GatewayTimeoutError("no answer.", detail={"attempts": 2})
    discovery = [
        store.discovery_step(G[0], user=USER, record=_record(0, Transaction.ITI_55), decision=_match(0),
                             error=None, remote=_remote(0), demographics=DEMOGRAPHICS),
        store.discovery_step(G[1], user=USER, record=_record(1, Transaction.ITI_55),
                             decision=_reject(RejectCode.NO_MATCH, "nobody"), error=None, remote=_remote(1),
                             demographics=DEMOGRAPHICS),
        store.discovery_step(G[2], user=USER, record=_record(2, Transaction.ITI_55),
                             decision=_reject(RejectCode.QUERY_ERROR, "query error"), error=None,
                             remote=_remote(2), demographics=DEMOGRAPHICS),
        store.discovery_step(G[3], user=USER, record=_record(3, Transaction.ITI_55),
                             decision=_reject(RejectCode.AMBIGUOUS, "two", score=80), error=None,
                             remote=_remote(3), demographics=DEMOGRAPHICS),
        store.discovery_step(G[4], user=USER, record=_record(4, Transaction.ITI_55, attempts=2),
                             decision=None, error=timeout, remote=_remote(4), demographics=DEMOGRAPHICS),
        store.discovery_step(G[5], user=USER, record=None, decision=None,
                             error=CircuitOpenError("open", detail={}), remote=_remote(5),
                             demographics=DEMOGRAPHICS),
        store.fail_gateway_step(G[6], ExchangeError("gone", detail={}), code="HG-0000"),
        store.discovery_step(G[9], user=USER, record=_record(9, Transaction.ITI_55), decision=_match(9, 88),
                             error=None, remote=_remote(9), demographics=DEMOGRAPHICS),
        store.discovery_step(G[10], user=USER, record=_record(10, Transaction.ITI_55), decision=_match(10),
                             error=None, remote=_remote(10), demographics=DEMOGRAPHICS),
    ]  # fmt: skip
    query_failure = iti38.QueryResponse(
        status=ResponseStatus.FAILURE, errors=(RegistryError("XDSRegistryBusy", "busy"),)
    )
    listed = iti38.QueryResponse(
        status=ResponseStatus.PARTIAL_SUCCESS,
        documents=(
            _entry(0, 1),
            _entry(0, 2),
            _entry(0, 3, repository_unique_id=None),
            _entry(0, 2),
            _entry(0, 4, hash=None, size=None),
        ),
        errors=(RegistryError("XDSRegistryError", "partly"),),
    )
    held_elsewhere = iti38.QueryResponse(
        status=ResponseStatus.SUCCESS, documents=(_entry(9, 93), _entry(9, 94))
    )
    batches: list[list[Step[Any]]] = [
        discovery,
        [store.reuse_link_step(G[7], Cx("OLD7", f"{G[7]}.5")), store.drop_link_step(G[8]), _broken],
        [
            store.query_step(G[0], user=USER, record=_record(20, Transaction.ITI_38), response=listed,
                             error=None, remote=_remote(0), patient=Cx("R0", f"{G[0]}.5")),
            store.query_step(G[7], user=USER, record=_record(27, Transaction.ITI_38), response=query_failure,
                             error=None, remote=_remote(7), patient=Cx("OLD7", f"{G[7]}.5")),
            store.query_step(G[9], user=USER, record=_record(29, Transaction.ITI_38), response=held_elsewhere,
                             error=None, remote=_remote(9), patient=Cx("R9", f"{G[9]}.5")),
            store.query_step(G[10], user=USER, record=_record(30, Transaction.ITI_38), response=None,
                             error=timeout, remote=_remote(10), patient=Cx("R10", f"{G[10]}.5")),
        ],
        [store.documents_to_retrieve_step(G[0]), store.documents_to_retrieve_step(G[9])],
    ]  # fmt: skip
    snapshots: list[dict[str, Any]] = []
    for steps in batches:
        since = utcnow()
        outcomes = store.run_steps(job_id, steps)
        snapshots.append({"outcomes": _outcomes(outcomes), "rows": snapshot(database, since, labels)})
    # Retrieve: gateway 0 gets one good document, one of the wrong size, and not the third; gateway 9's batch
    # fails as a whole.
    pending = store.run_steps(job_id, [store.documents_to_retrieve_step(G[0])])
    first = pending[0]
    assert not isinstance(first, Exception)
    wanted = first[1]
    retrieved = iti39.RetrieveResponse(
        status=ResponseStatus.PARTIAL_SUCCESS,
        documents=(_retrieved(0, 1), _retrieved(0, 2, b"<short/>")),
        errors=(RegistryError("XDSMissingDocument", "gone"),),
    )
    since = utcnow()
    outcomes = store.run_steps(
        job_id,
        [
            store.retrieve_step(G[0], user=USER, requested=wanted, record=_record(40, Transaction.ITI_39),
                                response=retrieved, error=None, remote=_remote(0),
                                patient=Cx("R0", f"{G[0]}.5")),
            store.retrieve_step(G[9], user=USER, requested=[], record=_record(49, Transaction.ITI_39),
                                response=None, error=timeout, remote=_remote(9),
                                patient=Cx("R9", f"{G[9]}.5")),
        ],
    )  # fmt: skip
    snapshots.append({"outcomes": _outcomes(outcomes), "rows": snapshot(database, since, labels)})
    since = utcnow()
    outcomes = store.run_steps(job_id, [store.finish_gateway_step(G[0]), store.finish_gateway_step(G[9])])
    snapshots.append({"outcomes": _outcomes(outcomes), "rows": snapshot(database, since, labels)})
    # A second job of the same patient reuses the held document without asking again.
    second = store.create_job(PullRequest(demographics=DEMOGRAPHICS, user=USER), _selection([0, 11]))
    labels[str(second)] = "<job2>"
    store.claim(second)
    since = utcnow()
    outcomes = store.run_steps(
        second,
        [
            store.reuse_link_step(G[0], Cx("R0", f"{G[0]}.5")),
            store.query_step(G[0], user=USER, record=_record(60, Transaction.ITI_38), response=listed,
                             error=None, remote=_remote(0), patient=Cx("R0", f"{G[0]}.5")),
        ],
    )  # fmt: skip
    snapshots.append({"outcomes": _outcomes(outcomes), "rows": snapshot(database, since, labels)})
    since = utcnow()
    outcomes = store.run_steps(second, [store.documents_to_retrieve_step(G[0])])
    snapshots.append({"outcomes": _outcomes(outcomes), "rows": snapshot(database, since, labels)})
    # Cancelled meanwhile: the next step reports it.
    store.cancel_job(second, USER)
    since = utcnow()
    outcomes = store.run_steps(second, [store.finish_gateway_step(G[0])])
    snapshots.append({"outcomes": _outcomes(outcomes), "rows": snapshot(database, since, labels)})
    return store, job_id, snapshots


def test_steps_persist_rows_counters_and_audit(database: Database) -> None:
    store, job_id, snapshots = run_scenario(database)
    discovery, links, query, to_retrieve, retrieve, finish, second, reuse, cancelled = snapshots
    rows = {
        r["home_community_id"]: r for r in discovery["rows"]["pull_job_gateway"] if r["job_id"] == "<job>"
    }
    assert rows[G[0]]["stage"] == GatewayStage.MATCHED.value
    assert rows[G[0]]["remote_patient_id"] == "R0"
    assert rows[G[1]]["outcome"] == "no-match"
    assert rows[G[2]]["outcome"] == "failed"
    assert rows[G[3]]["outcome"] == "rejected"
    assert rows[G[3]]["match_score"] == 80
    assert rows[G[4]]["outcome"] == "timeout"
    assert rows[G[4]]["reason"] == "no answer after 2 attempts"
    assert rows[G[5]]["outcome"] == "circuit-open"
    assert rows[G[5]]["exchanges"] == 0
    assert rows[G[6]]["error_code"] == "HG-0000"
    assert rows[G[4]]["exchanges"] == 1
    assert rows[G[4]]["latency_ms"] == 104
    touched = {hcid for hcid, r in rows.items() if r["updated_at"] == "touched=True"}
    assert touched == {G[n] for n in (0, 1, 2, 3, 4, 5, 6, 9, 10)}
    assert [a["transaction_type"] for a in discovery["rows"]["audit_event"]].count("ITI-55") == 7
    last = discovery["outcomes"][-1]["progress"]
    assert last["state"] == JobState.DISCOVERING.value
    assert last["counters"]["gateways_matched"] == 3
    assert last["counters"]["gateways_failed"] == 4
    assert [o["progress"]["gateway"]["home_community_id"] for o in discovery["outcomes"]] == [
        G[n] for n in (0, 1, 2, 3, 4, 5, 6, 9, 10)
    ]
    # The failing step failed alone; the two link steps committed one transaction each.
    assert links["outcomes"][2] == "ExchangeError: HG-6010: a step that fails"
    kept = {r["home_community_id"]: r for r in links["rows"]["patient_link"]}
    assert G[8] not in kept
    assert kept[G[7]]["last_used_at"] == "touched=True"
    assert kept[G[0]]["remote_patient_id"] == "R0"
    assert kept[G[0]]["score"] == 95
    documents = {d["unique_id"]: (d["state"], d["error_code"]) for d in query["rows"]["pull_job_document"]
                 if d["job_id"] == "<job>"}  # fmt: skip
    assert documents == {
        "1.2.3.1": ("found", None),
        "1.2.3.2": ("found", None),
        "1.2.3.4": ("found", None),
        "1.2.3.93": ("failed", "HG-5004"),
        "1.2.3.94": ("found", None),
    }
    # A registry that answered Failure: its error code, and its own words about why.
    refused = query["outcomes"][1]["progress"]["gateway"]
    assert (refused["home_community_id"], refused["outcome"]) == (G[7], "failed")
    assert (refused["error_code"], refused["reason"]) == ("XDSRegistryBusy", "ITI-38 answered Failure: busy")
    pending = to_retrieve["outcomes"][0]["value"]
    assert [p["unique_id"] for p in pending] == ["1.2.3.1", "1.2.3.2", "1.2.3.4"]
    states = {d["unique_id"]: (d["state"], d["error_code"]) for d in retrieve["rows"]["pull_job_document"]
              if d["job_id"] == "<job>" and d["home_community_id"] == G[0]}  # fmt: skip
    assert states == {
        "1.2.3.1": ("retrieved", None),
        "1.2.3.2": ("failed", "size-mismatch"),
        "1.2.3.4": ("failed", "XDSMissingDocument"),
    }
    assert retrieve["outcomes"][0]["value"]
    assert retrieve["outcomes"][1]["value"] == []
    ends = {
        o["progress"]["gateway"]["home_community_id"]: o["progress"]["gateway"] for o in finish["outcomes"]
    }
    assert ends[G[0]]["outcome"] == "partial"
    assert ends[G[9]]["outcome"] == "partial"
    assert finish["outcomes"][-1]["progress"]["counters"]["documents_retrieved"] == 1
    reused = reuse["outcomes"][0]
    assert [p["unique_id"] for p in reused["value"]] == ["1.2.3.2", "1.2.3.4"]
    second_docs = {d["unique_id"]: d for d in reuse["rows"]["pull_job_document"] if d["job_id"] == "<job2>"}
    assert second_docs["1.2.3.1"]["state"] == "retrieved"
    assert second_docs["1.2.3.1"]["reused"] in (1, True)
    assert reused["progress"]["counters"]["documents_reused"] == 1
    # Each step reports its gateway as the whole batch left it.
    assert [o["progress"]["gateway"]["stage"] for o in second["outcomes"]] == ["queried", "queried"]
    assert cancelled["outcomes"][0]["progress"]["state"] == JobState.CANCELLED.value
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "steps"))
        assert tenant is not None
        assert verify_chain(session, tenant).ok
    assert store.reports(job_id)[1].documents_retrieved == 1
