"""What the steps hand back to the worker: a claimed job's plan, pending documents, and progress."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from gateway.audit import Transaction
from gateway.initiating.models import (
    GatewayReport,
    GatewayStage,
    JobCounters,
    JobState,
    PullRequest,
)
from xca.ids import Cx

__all__ = [
    "DocumentToConvert",
    "GatewayPlan",
    "JobPlan",
    "PendingDocument",
    "Progress",
]


@dataclass(frozen=True)
class GatewayPlan:
    """Where one gateway of a job stands, and the link to use when it has one."""

    home_community_id: str
    name: str
    stage: GatewayStage
    remote: Cx | None


@dataclass(frozen=True)
class JobPlan:
    """A claimed job: its request, the local patient, and each gateway's stage."""

    job_id: uuid.UUID
    state: JobState
    request: PullRequest
    patient_id: uuid.UUID
    local_id: Cx
    gateways: tuple[GatewayPlan, ...]
    links: dict[str, Cx]
    record_published: bool = False
    """The record was published by an earlier run of this job (before a crash or Ctrl-C)."""
    record_current: bool = False
    """That record holds every document the earlier runs converted (none was converted after it)."""
    answered: dict[Transaction, float] = field(default_factory=dict)
    """The slowest answer of each transaction in earlier runs of this job, seconds (see settle)."""


@dataclass(frozen=True)
class PendingDocument:
    home_community_id: str
    repository_id: str
    unique_id: str


@dataclass(frozen=True)
class DocumentToConvert:
    """A retrieved document of a job waiting for conversion (``already``: this patient's resources from it
    are stored, by an earlier pull), with what its ITI-38 listing said of it: the ``typeCode`` (code, coding
    scheme as sent, display name) and the ``creationTime`` (XDS DTM in UTC at its own precision)."""

    doc_id: int
    raw_id: uuid.UUID
    media_type: str
    home_community_id: str
    unique_id: str
    title: str | None
    already: bool
    type_code: str | None = None
    type_code_system: str | None = None
    type_code_display: str | None = None
    creation_time: str | None = None


@dataclass(frozen=True)
class Progress:
    """What a step changed: the gateway's report (if it was about one gateway) and the job's counters."""

    gateway: GatewayReport | None
    counters: JobCounters
    state: JobState
