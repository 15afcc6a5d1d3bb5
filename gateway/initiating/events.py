"""Progress events of a pull: emitted by the worker right after each persisted step, pushed to subscribers
(the rich display, a FHIR API job endpoint). No polling anywhere: a subscriber reacts to what happened.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from gateway.initiating.models import GatewayReport, JobCounters, JobState

__all__ = ["EventBus", "EventKind", "Listener", "ProgressEvent"]

log = logging.getLogger("gateway.initiating")


class EventKind(StrEnum):
    JOB_STARTED = "job-started"
    GATEWAY_ASKED = "gateway-asked"
    GATEWAY_UPDATED = "gateway-updated"
    DOCUMENT_CONVERTED = "document-converted"
    RECORD_READY = "record-ready"
    """The patient's record is published; late gateways may still add to it before ``job-finished``."""
    RECORD_UPDATED = "record-updated"
    """Late gateways' documents were merged into the published record (after ``record-ready``)."""
    JOB_FINISHED = "job-finished"


@dataclass(frozen=True)
class ProgressEvent:
    kind: EventKind
    job_id: uuid.UUID
    state: JobState
    counters: JobCounters
    gateway: GatewayReport | None = None
    home_community_id: str | None = None


Listener = Callable[[ProgressEvent], None]


class EventBus:
    """Calls each listener in order; a listener that raises is logged and does not stop the pull."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners = list(listeners)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: ProgressEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a display bug must not cost the pull
                log.exception("progress listener failed on %s", event.kind.value)
