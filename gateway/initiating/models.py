"""What a pull is: the request, the job's state machine, per-gateway stages and outcomes, and reports.

Job state machine (persisted in ``pull_job.state``; monotonic, each step idempotent)::

    created ──▶ discovering ──▶ querying ──▶ retrieving ──▶ converting ──▶ done
       │             │              │             │              │
       ├─────────────┼──────────────┼─────────────┼──────────────┼──▶ failed     (unexpected error)
       └─────────────┴──────────────┴─────────────┴──────────────┴──▶ cancelled  (asked to stop)

``done``, ``failed`` and ``cancelled`` are final. A cancelled job is never claimed again: its worker stops
before its next request (answers already in flight are still persisted and audited), converts nothing more,
and every gateway not finished is closed as ``skipped`` (never asked) or ``cancelled`` (asked, unfinished).

Gateways run their own pipelines concurrently (ITI-55 → ITI-38 → ITI-39 batches), so the job's state is the
stage of its least advanced gateway: ``discovering`` while some gateway has not finished ITI-55, ``querying``
while some matched gateway has not finished ITI-38, ``retrieving`` while documents are still being fetched.
Per gateway (``pull_job_gateway.stage``): ``pending`` → ``matched`` → ``queried`` → ``done`` (any outcome).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from gateway.directory import GeoPoint, SelectionSpec
from gateway.security import PurposeOfUse, RequestingUser
from xca.iti55 import Demographics

__all__ = [
    "ACTIVE_STATES",
    "DocumentState",
    "GatewayOutcome",
    "GatewayReport",
    "GatewayStage",
    "JobCounters",
    "JobListing",
    "JobState",
    "PullRequest",
    "PullSummary",
    "record_bundle",
]


class JobState(StrEnum):
    CREATED = "created"
    DISCOVERING = "discovering"
    QUERYING = "querying"
    RETRIEVING = "retrieving"
    CONVERTING = "converting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Final = {state: index for index, state in enumerate(JobState)}
ACTIVE_STATES: Final = frozenset(
    {JobState.CREATED, JobState.DISCOVERING, JobState.QUERYING, JobState.RETRIEVING, JobState.CONVERTING}
)


class GatewayStage(StrEnum):
    PENDING = "pending"
    MATCHED = "matched"
    QUERIED = "queried"
    DONE = "done"


class GatewayOutcome(StrEnum):
    """How a gateway's part of the pull ended."""

    OK = "ok"
    PARTIAL = "partial"
    NO_MATCH = "no-match"
    REJECTED = "rejected"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CIRCUIT_OPEN = "circuit-open"
    SKIPPED = "skipped"
    """The job was cancelled before this gateway was asked."""
    CANCELLED = "cancelled"
    """The job was cancelled after this gateway was asked, before its part was finished."""

    @property
    def failed(self) -> bool:
        return self in (GatewayOutcome.FAILED, GatewayOutcome.TIMEOUT, GatewayOutcome.CIRCUIT_OPEN)


class DocumentState(StrEnum):
    FOUND = "found"
    RETRIEVED = "retrieved"
    CONVERTED = "converted"
    STORED = "stored"
    """Retrieved and kept, not convertible (not a C-CDA: a PDF, an image)."""
    FAILED = "failed"


@dataclass(frozen=True)
class PullRequest:
    """Find one patient across the network and pull every document: demographics, on whose behalf, for which
    purpose, which gateways, and an optional document creation-time range."""

    demographics: Demographics
    user: RequestingUser
    selection: SelectionSpec = field(default_factory=SelectionSpec)
    patient_point: GeoPoint | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    patient_id: uuid.UUID | None = None
    """The clinic's registered patient the record belongs to; without it, the patient is keyed by the
    asked demographics (and created on the first pull)."""

    @property
    def purpose_of_use(self) -> PurposeOfUse:
        return self.user.purpose_of_use


@dataclass(frozen=True)
class JobCounters:
    """The job's progress counters (persisted on the job row)."""

    gateways_selected: int = 0
    gateways_asked: int = 0
    gateways_answered: int = 0
    gateways_matched: int = 0
    gateways_failed: int = 0
    documents_found: int = 0
    documents_retrieved: int = 0
    documents_converted: int = 0
    documents_failed: int = 0
    documents_reused: int = 0
    """Found again and already held (an earlier pull): not asked for again."""
    resources_stored: int = 0


@dataclass(frozen=True)
class JobListing:
    """One line of a tenant's job list: what was asked when, where it stands, and whether a live worker
    holds it (an unfinished job nobody holds waits for ``hiegate pull --resume``, or for the API server's
    start when the API asked for it)."""

    job_id: uuid.UUID
    state: JobState
    purpose_of_use: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    counters: JobCounters
    error_code: str | None
    running: bool
    record_ms: int | None = None
    """When the record was first published, milliseconds after the job was asked (``None``: not yet)."""

    @property
    def unfinished(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True)
class GatewayReport:
    """One gateway's row of the summary."""

    home_community_id: str
    name: str
    stage: GatewayStage
    outcome: GatewayOutcome | None = None
    reason: str | None = None
    error_code: str | None = None
    match_score: int | None = None
    remote_patient: str | None = None
    link_reused: bool = False
    documents_found: int = 0
    documents_retrieved: int = 0
    exchanges: int = 0
    latency_ms: int = 0
    late: bool = False
    """Still asking when the job's record was first published (:mod:`gateway.initiating.settle`): what it
    brought afterwards was merged into the record when the job ended."""


@dataclass(frozen=True)
class PullSummary:
    """A finished (or stopped) job: its state, counters, per-gateway reports and the consolidated record."""

    job_id: uuid.UUID
    state: JobState
    counters: JobCounters
    gateways: tuple[GatewayReport, ...]
    wall_ms: int = 0
    record_ms: int | None = None
    """When the record was first published, ms after the run started (``None``: only at the end)."""
    bundle: dict[str, object] | None = field(default=None, repr=False)
    error_code: str | None = None
    error_detail: str | None = None


def record_bundle(job_id: uuid.UUID, resources: Sequence[dict[str, object]]) -> dict[str, object]:
    """The patient's consolidated record as a pull hands it out: a collection Bundle named after the job."""
    return {
        "resourceType": "Bundle",
        "id": f"pull-{job_id}",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
