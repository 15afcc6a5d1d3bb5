"""The live progress display: what it says about the record, once per event, in a terminal."""

from __future__ import annotations

import io
import uuid

import pytest
from rich.console import Console

from gateway.initiating import EventKind, JobState, ProgressEvent
from gateway.initiating.display import LiveProgress, summary_table
from gateway.initiating.models import GatewayOutcome, GatewayReport, GatewayStage, JobCounters, PullSummary


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


def test_late_is_said_of_a_gateway_whose_documents_came_after_the_record() -> None:
    def row(name: str, outcome: GatewayOutcome) -> GatewayReport:
        return GatewayReport(f"1.2.3.{len(name)}", name, GatewayStage.DONE, outcome, late=True)

    summary = PullSummary(
        uuid.uuid4(),
        JobState.DONE,
        JobCounters(),
        (
            row("slowok", GatewayOutcome.OK),
            row("retrying500", GatewayOutcome.FAILED),
            row("hang", GatewayOutcome.TIMEOUT),
        ),
    )
    out = io.StringIO()
    Console(file=out, width=200).print(summary_table(summary))
    lines = {
        name: line
        for line in out.getvalue().splitlines()
        for name in ("slowok", "retrying500", "hang")
        if name in line
    }
    assert "ok (late)" in lines["slowok"]
    assert "(late)" not in lines["retrying500"]
    assert "(late)" not in lines["hang"]
