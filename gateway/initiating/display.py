"""The pull's terminal display (rich): a live progress panel driven by progress events (redrawn on each event,
never on a timer), and the summary table at the end."""

from __future__ import annotations

import datetime as dt
import sys

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gateway.initiating.events import EventKind, ProgressEvent
from gateway.initiating.models import (
    GatewayOutcome,
    GatewayReport,
    JobCounters,
    JobListing,
    JobState,
    PullSummary,
)

__all__ = ["LiveProgress", "console", "jobs_table", "summary_table", "totals_line"]


def console() -> Console:
    """A console that keeps the summary table readable when output is not a terminal (CI logs, files)."""
    return Console() if sys.stdout.isatty() else Console(width=170)


_STYLE = {
    GatewayOutcome.OK: "green",
    GatewayOutcome.PARTIAL: "yellow",
    GatewayOutcome.NO_MATCH: "dim",
    GatewayOutcome.REJECTED: "yellow",
    GatewayOutcome.FAILED: "red",
    GatewayOutcome.TIMEOUT: "red",
    GatewayOutcome.CIRCUIT_OPEN: "magenta",
    GatewayOutcome.SKIPPED: "dim",
    GatewayOutcome.CANCELLED: "yellow",
}


def totals_line(counters: JobCounters) -> str:
    c = counters
    return (
        f"gateways {c.gateways_asked}/{c.gateways_selected} asked, {c.gateways_answered} answered, "
        f"{c.gateways_matched} matched, {c.gateways_failed} failed; documents {c.documents_found} found, "
        f"{c.documents_retrieved} retrieved, {c.documents_reused} already held, {c.documents_converted} "
        f"converted, {c.documents_failed} failed; resources {c.resources_stored}"
    )


class LiveProgress:
    """Subscribe :meth:`on_event` to a pull; use as a context manager around the pull. ``records``: say
    when the record is ready or updated (off when whoever writes the record out says so itself)."""

    def __init__(self, console: Console, *, records: bool = True) -> None:
        self.console = console
        self._records = records
        self._asked = 0
        self._counters = JobCounters()
        self._state = "created"
        self._recent: list[str] = []
        self._live = Live(console=console, auto_refresh=False, transient=True)

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def on_event(self, event: ProgressEvent) -> None:
        self._counters, self._state = event.counters, event.state.value
        if event.kind is EventKind.GATEWAY_ASKED:
            self._asked += 1
        if self._records and event.kind is EventKind.RECORD_READY:
            c = event.counters
            self._live.console.print(
                f"record ready: {c.resources_stored} resources from {c.documents_converted} converted "
                "documents; still waiting for late gateways (what they send is merged as they finish)"
            )
        elif self._records and event.kind is EventKind.RECORD_UPDATED:
            c = event.counters
            self._live.console.print(
                f"record updated: {c.resources_stored} resources from {c.documents_converted} converted "
                "documents (late gateways merged)"
            )
        gateway = event.gateway
        if gateway is not None and gateway.outcome is not None:
            self._recent = [*self._recent[-4:], f"{gateway.name}: {gateway.outcome.value}"]
        c = self._counters
        lines = [
            Text(f"pull {event.job_id}  state {self._state}", style="bold"),
            Text(
                f"gateways  asked {max(self._asked, c.gateways_asked)}/{c.gateways_selected}  answered "
                f"{c.gateways_answered}  matched {c.gateways_matched}  failed {c.gateways_failed}"
            ),
            Text(
                f"documents found {c.documents_found}  retrieved {c.documents_retrieved}  held "
                f"{c.documents_reused}  converted {c.documents_converted}  failed {c.documents_failed}"
            ),
            *(Text(f"  {line}", style="dim") for line in self._recent),
        ]
        self._live.update(Group(*lines), refresh=True)


def _match(report: GatewayReport) -> str:
    if report.remote_patient is None:
        return "-"
    score = f" ({report.match_score})" if report.match_score is not None else ""
    return ("linked" if report.link_reused else "matched") + score


def summary_table(summary: PullSummary) -> Table:
    record = f", record at {summary.record_ms} ms" if summary.record_ms is not None else ""
    table = Table(
        title=f"pull {summary.job_id}: {summary.state.value} in {summary.wall_ms} ms{record}", expand=False
    )
    for column in ("gateway", "community", "outcome", "match", "docs found", "retrieved", "error", "ms"):
        table.add_column(column, justify="right" if column in ("docs found", "retrieved", "ms") else "left")
    for g in sorted(summary.gateways, key=lambda r: (r.outcome is None, str(r.outcome), r.name)):
        # "late" tells the user the record was updated with what this gateway sent after it was published:
        # said of a gateway that sent something, not of one that failed or timed out after it.
        merged = g.late and g.outcome in (GatewayOutcome.OK, GatewayOutcome.PARTIAL)
        outcome = (g.outcome.value if g.outcome else g.stage.value) + (" (late)" if merged else "")
        error = _problem(g.error_code, g.reason) if g.outcome is not GatewayOutcome.OK else ""
        table.add_row(
            g.name,
            g.home_community_id if len(g.home_community_id) <= 28 else "…" + g.home_community_id[-27:],
            Text(outcome, style=_STYLE.get(g.outcome, "") if g.outcome else ""),
            _match(g),
            str(g.documents_found),
            str(g.documents_retrieved),
            error[:120],
            str(g.latency_ms),
        )
    return table


def _problem(code: str | None, reason: str | None) -> str:
    """Code and reason, once: an outcome code such as ``no-match`` already says what its reason says."""
    if code and reason and reason.replace(" ", "-") == code:
        return reason
    return " ".join(x for x in (code, reason) if x)


_JOB_STYLE = {JobState.DONE: "green", JobState.FAILED: "red", JobState.CANCELLED: "dim"}


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def jobs_table(jobs: list[JobListing]) -> Table:
    """``hiegate pull --list``: one row per job, no patient details (the job id leads to them, through
    ``hiegate audit search --job``)."""
    table = Table(title="pull jobs, newest first", expand=False)
    table.add_column("job", no_wrap=True, min_width=36)  # whole: it is what --resume and --cancel take
    table.add_column("state")
    for column in (
        "purpose",
        "started",
        "took s",
        "gateways",
        "matched",
        "failed",
        "docs",
        "converted",
        "resources",
    ):
        table.add_column(
            column, justify="left" if column in ("purpose", "started") else "right", no_wrap=True
        )
    for job in jobs:
        c = job.counters
        state = job.state.value + (" (running)" if job.running else " (waiting)" if job.unfinished else "")
        if job.error_code:
            state += f" {job.error_code}"
        took = f"{(job.finished_at - job.created_at).total_seconds():.1f}" if job.finished_at else "-"
        if job.record_ms is not None:
            record = f"{job.record_ms / 1000:.1f}"
        else:  # published at the job's end (every gateway done before any was overdue), or not at all
            record = took if job.state is JobState.DONE else "-"
        times = f"{record}/{took}"
        table.add_row(
            str(job.job_id),
            Text(state, style=_JOB_STYLE.get(job.state, "yellow")),
            job.purpose_of_use,
            _instant(job.created_at),
            times,
            f"{c.gateways_answered}/{c.gateways_asked}/{c.gateways_selected}",
            str(c.gateways_matched),
            str(c.gateways_failed),
            f"{c.documents_retrieved}/{c.documents_found}",
            str(c.documents_converted),
            str(c.resources_stored),
        )
    table.caption = (
        "state: the earliest stage a gateway of the job is still in (discovering while one has not answered "
        "ITI-55, however far the others are); took s: when its record was first published / when "
        "the job ended; "
        "gateways: answered/asked/selected; docs: retrieved/found"
    )
    return table
