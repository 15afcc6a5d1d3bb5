"""The live progress display: what it says about the record, once per event, in a terminal."""

from __future__ import annotations

import io
import uuid

import pytest
from rich.console import Console

from gateway.initiating import EventKind, JobState, ProgressEvent
from gateway.initiating.display import LiveProgress
from gateway.initiating.models import JobCounters


def _shown(records: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=120)
    counters = JobCounters(documents_converted=2, resources_stored=30)
    job = uuid.uuid4()
    with LiveProgress(console, records=records) as live:
        for kind in (EventKind.RECORD_READY, EventKind.RECORD_UPDATED):
            live.on_event(ProgressEvent(kind, job, JobState.DISCOVERING, counters))
    return out.getvalue()


@pytest.mark.parametrize("records", [True, False])
def test_the_record_is_announced_once(records: bool) -> None:
    # `hiegate pull --out` announces the record itself (with the file it wrote): the display then stays
    # quiet about it, so a terminal does not show each line twice.
    shown = _shown(records)
    assert shown.count("record ready: 30 resources from 2 converted documents") == int(records)
    assert shown.count("record updated: 30 resources from 2 converted documents") == int(records)
