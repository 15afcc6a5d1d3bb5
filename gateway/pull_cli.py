"""``hiegate pull``: pull one patient's outside records through the configured directory, with a live progress
display and a summary table; ``--resume JOB`` finishes an interrupted job (not a cancelled one), ``--cancel
JOB`` cancels an unfinished one, ``--list [N]`` shows the tenant's latest jobs. An unfinished job that asked
exactly this pull (killed, or stopped with Ctrl-C or SIGTERM) is resumed instead of starting the same pull
again (or, while another live process runs it, refused: HG-6202); other unfinished jobs are named, not run.

A pull exits 0 when it ran to its end, 1 when its job could not (failed or cancelled), 3 when it ran to its
end with nothing back (every gateway asked failed, timed out or had its circuit open), 130 after Ctrl-C and
143 after SIGTERM (the job kept, with the ``--resume`` that finishes it).

``--cancel`` exits 0 when the job is now cancelled (or already was), 1 when it cannot be (unknown to this
tenant, already ``done`` or ``failed``), 2 for a malformed job id. A worker running the job, in any process,
stops before its next request.

Light at import: the handler imports the pull machinery.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import signal
import uuid
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.pull_input import (
    add_given_argument,
    birth_date_argument,
    community_id_argument,
    date_argument,
    given_names,
    parse_address,
    phone_argument,
    point_argument,
)
from gateway.pull_jobs_cli import cancel_job, job_id_argument, list_jobs
from xca.errors import ConfigError, HieGatewayError, JobBusyError, UnknownCommunityError

if TYPE_CHECKING:
    from rich.console import Console

    from gateway.config import Settings
    from gateway.directory import Selection
    from gateway.initiating.events import Listener, ProgressEvent
    from gateway.initiating.models import PullRequest, PullSummary
    from gateway.initiating.service import PullService

__all__ = ["add_pull_commands"]


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _as_named(exc: OSError, path: Path) -> OSError:
    """``exc`` about the path the user named (not the hidden partial file next to it)."""
    return OSError(exc.errno, exc.strerror, str(path))


def _check_out(path: Path) -> None:
    """``--out`` must name a file this process can write (its folder is created), checked before any gateway
    is asked: a typo must not cost a whole pull, its disclosures audited and its record nowhere."""
    if path.is_dir():
        raise OSError(errno.EISDIR, "is a folder", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = _partial(path)
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise _as_named(exc, path) from exc


def _write_bundle(path: Path, bundle: dict[str, object]) -> None:
    """Write ``bundle`` as JSON to ``path`` in one step (a reader never sees half a file); a failed write
    leaves no partial file behind (it holds the patient's record)."""
    import orjson

    partial = _partial(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2))
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise _as_named(exc, path) from exc


class _EarlyRecord:
    """``--out`` as soon as the record is published: when only overdue gateways are left the job goes on
    waiting for them (up to their partner timeout), but whoever reads the file has the record already. The
    file is written again each time late gateways' documents are merged into the record, and when the job
    ends."""

    def __init__(self, service: PullService, job_id: uuid.UUID, path: Path, console: Console) -> None:
        import threading

        self.service, self.job_id, self.path, self.console = service, job_id, path, console
        self.written = False
        # Writes run on the default executor's threads: one at a time, each reading the record as it is
        # then, so the file never goes back to an older record.
        self._lock = threading.Lock()

    def on_event(self, event: ProgressEvent) -> None:
        import asyncio

        from gateway.initiating.events import EventKind

        if event.job_id != self.job_id:
            return
        if event.kind in (EventKind.RECORD_READY, EventKind.RECORD_UPDATED):
            # Off the event loop: reading the record is database work. asyncio.run waits for the default
            # executor before it returns, so this write lands before the job's final one.
            updated = event.kind is EventKind.RECORD_UPDATED
            asyncio.get_running_loop().run_in_executor(None, self._write, updated)

    def _write(self, updated: bool) -> None:
        what = "record updated" if updated else "record ready"
        with self._lock:
            try:
                bundle = self.service.record(self.job_id)
                _write_bundle(self.path, bundle)
            except (OSError, HieGatewayError) as exc:
                self.console.print(f"{what}, but not written to {self.path}: {exc}")
                return
            self.written = True
        resources = len(bundle["entry"])  # type: ignore[arg-type]
        if updated:
            self.console.print(f"record updated: {self.path} ({resources} resources); late gateways merged")
        else:
            self.console.print(
                f"record ready: {self.path} ({resources} resources); late gateways are merged as they finish"
            )


def add_pull_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pull = commands.add_parser("pull", help="pull a patient's records from the network (ITI-55/38/39)")
    who = pull.add_argument_group("patient")
    add_given_argument(who)
    who.add_argument("--family", help="family name")
    who.add_argument("--birth-date", type=birth_date_argument, help="YYYY-MM-DD, not in the future")
    who.add_argument("--gender", choices=["M", "F", "UN"], help="administrative gender")
    who.add_argument("--address", help='"street, city, ST zip"')
    who.add_argument("--phone", type=phone_argument, help="phone number, e.g. +1-608-555-0142")
    pull.add_argument("--purpose", help="purpose of use (default: the default_purpose_of_use setting)")
    pull.add_argument("--out", type=Path, help="write the consolidated FHIR Bundle (JSON) here")
    which = pull.add_argument_group("gateways")
    which.add_argument(
        "--to",
        action="extend",
        nargs="+",
        type=community_id_argument,
        metavar="HCID",
        help="ask only these communities (several after the flag, or the flag again)",
    )
    which.add_argument(
        "--state", action="extend", nargs="+", metavar="ST", help="ask communities in these states"
    )
    which.add_argument("--near", type=point_argument, metavar="LAT,LON", help="patient position for distance")
    which.add_argument("--radius", type=float, metavar="KM", help="ask communities within this distance")
    which.add_argument("--cap", type=int, default=500, help="ask at most this many gateways (default 500)")
    pull.add_argument("--from-date", type=date_argument, help="documents created on or after (ITI-38 range)")
    pull.add_argument("--to-date", type=date_argument, help="documents created before")
    job = pull.add_mutually_exclusive_group()
    job.add_argument("--resume", metavar="JOB", help="finish an interrupted job instead of starting one")
    job.add_argument("--cancel", metavar="JOB", help="cancel an unfinished job (queued or running)")
    job.add_argument(
        "--list",
        nargs="?",
        type=int,
        const=20,
        metavar="N",
        help="list this tenant's latest N jobs, newest first (default 20), and how to finish unfinished ones",
    )
    pull.add_argument("--no-progress", action="store_true", help="no live display (summary only)")
    pull.set_defaults(handler=_pull)


def _request(args: argparse.Namespace, settings: Settings) -> PullRequest:
    from gateway.directory import GeoPoint, SelectionSpec, SelectionStrategy
    from gateway.initiating.codec import parse_purpose
    from gateway.initiating.models import PullRequest
    from gateway.initiating.service import default_user
    from xca.iti55 import Address, AdministrativeGender, Demographics, PersonName, Telecom

    missing = [n for n in ("given", "family", "birth_date", "gender") if not getattr(args, n)]
    if missing:
        flags = ", ".join("--" + m.replace("_", "-") for m in missing)
        raise ConfigError(f"pull: {flags} required (or --resume JOB)", detail={"setting": missing[0]})
    addresses: tuple[Address, ...] = ()
    if args.address is not None:
        lines, city, state, postal = parse_address(args.address)
        if not (lines and city and state):
            # A patient's address is matched on its parts: one that cannot be read would be sent as a street
            # line only (and weigh in the match as a different address). The text is PHI: not repeated.
            raise ConfigError(
                'pull: --address expected "street, city, ST" with an optional ZIP code after the state '
                '(e.g. "12 Orchard Lane, Madison, WI 53703")',
                detail={"setting": "address"},
            )
        addresses = (Address(lines, city, state, postal, "US", "H"),)
    demographics = Demographics(
        names=(PersonName(given=given_names(args.given), family=args.family, use="L"),),
        gender=AdministrativeGender(args.gender),
        birth_date=args.birth_date,
        addresses=addresses,
        telecoms=(Telecom(f"tel:{args.phone}", "HP"),) if args.phone else (),
    )
    if args.from_date and args.to_date and args.from_date >= args.to_date:
        raise ConfigError(
            f"pull: --from-date {args.from_date} is not before --to-date {args.to_date} (documents created "
            "on or after the first and before the second: the range would hold nothing)",
            detail={"setting": "from_date"},
        )
    try:  # an empty --purpose is a mistake to say, not the default
        purpose = parse_purpose(args.purpose) if args.purpose is not None else None
    except ValueError:
        raise ConfigError(
            f"pull: unknown purpose of use {args.purpose!r}", detail={"setting": "purpose"}
        ) from None
    if args.to:
        strategy = SelectionStrategy.EXPLICIT
    elif args.radius or args.near:
        strategy = SelectionStrategy.DISTANCE
    elif args.state:
        strategy = SelectionStrategy.STATE
    else:
        strategy = SelectionStrategy.ALL
    spec = SelectionSpec(
        strategy=strategy,
        states=tuple(args.state or ()),
        radius_km=args.radius,
        communities=tuple(args.to or ()),
        cap=args.cap,
    )
    return PullRequest(
        demographics=demographics,
        user=default_user(settings, purpose),
        selection=spec,
        patient_point=GeoPoint(*args.near) if args.near else None,
        date_from=args.from_date,
        date_to=args.to_date,
    )


def _job_for(
    service: PullService, request: PullRequest, selection: Selection | None, console: Console
) -> uuid.UUID:
    """The job this pull runs: the same pull's unfinished job (after a crash or Ctrl-C: finished rather than
    started a second time), else a new one. Other unfinished jobs are named, not run: the patient asked for
    now does not wait for them (``--list`` shows them, ``--resume`` finishes one)."""
    waiting = service.unfinished(held=False)  # those a live process (the API's worker, a pull) runs are its
    same = service.unfinished_job_for(request)
    others = [job for job in waiting if job != same]
    if others:
        console.print(
            f"{len(others)} other unfinished pull{'s' if len(others) > 1 else ''} that no process runs: "
            "`hiegate pull --list` shows them, `hiegate pull --resume JOB` finishes one"
        )
    if same is None:
        job = service.create_job(request, selection)
        console.print(f"job {job}: if this process stops, `hiegate pull --resume {job}` finishes it")
        return job
    if same not in waiting:
        raise JobBusyError(
            f"this same pull is running in another process (job {same}); `hiegate pull --list` shows its "
            f"progress, and once that process has stopped, `hiegate pull --resume {same}` finishes it",
            detail={"job": str(same)},
        )
    console.print(f"resuming job {same}: this same pull, stopped before it finished")
    return same


def _check_named(named: Sequence[str], listed: set[str]) -> None:
    """Every ``--to`` community must be in the directory: a typo would otherwise ask nobody and report a
    finished pull with nothing found, which reads like "no records"."""
    unknown = [hcid for hcid in named if hcid not in listed]
    if unknown:
        raise UnknownCommunityError(
            f"--to: the directory does not list {', '.join(unknown)}",
            detail={"home_community_id": unknown[0]},
        )


def _checked_selection(selection: Selection, args: argparse.Namespace) -> Selection:
    """``selection``, unless it asks nobody (a state no community is in, a radius around nobody, only
    inactive communities named): a mistake to say, not a finished pull that found nothing."""
    if selection.chosen:
        return selection
    shown = {
        "to": " ".join(args.to or ()),
        "state": " ".join(args.state or ()),
        "near": ",".join(map(str, args.near)) if args.near else "",
        "radius": f"{args.radius:g}" if args.radius else "",
    }
    asked = " ".join(f"--{flag} {value}" for flag, value in shown.items() if value)
    reasons = sorted(set(selection.excluded.values()))
    raise ConfigError(
        f"no community in the directory matches {asked or 'this selection'}"
        + (f" ({'; '.join(reasons[:3])})" if reasons else ""),
        detail={"setting": "state" if args.state else "to" if args.to else "radius"},
    )


_REQUEST_OPTIONS = ("given", "family", "birth_date", "gender", "address", "phone", "purpose", "to", "state",
                    "near", "radius", "from_date", "to_date")  # fmt: skip


def _no_request_options(args: argparse.Namespace) -> None:
    """``--resume``, ``--cancel`` and ``--list`` act on jobs already asked: a patient, gateway or date option
    beside them would be silently ignored, so it is refused."""
    given = [name for name in _REQUEST_OPTIONS if getattr(args, name) not in (None, [])]
    if given:
        flag = "resume" if args.resume else "cancel" if args.cancel else "list"
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(
            f"--{flag} acts on existing jobs: {options} would be ignored (leave them out)",
            detail={"setting": given[0]},
        )


class _TerminatedError(Exception):
    """The process was asked to stop (SIGTERM: ``docker stop``, systemd, ``timeout``)."""


async def _stoppable(run: Coroutine[object, object, PullSummary]) -> PullSummary:
    """``run``, cancelled by SIGTERM as Ctrl-C cancels it: the job's tasks end and every step already taken
    stays committed, and the caller says how to finish the job (:class:`_TerminatedError`)."""
    import asyncio

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, terminate)
        installed = True
    except (RuntimeError, NotImplementedError, ValueError):
        # Off the main thread or without Unix signals no handler can be set: SIGTERM ends the process as
        # the operating system does, and Ctrl-C still stops the job as above.
        installed = False
    try:
        return await run
    except asyncio.CancelledError:
        if terminated:
            raise _TerminatedError from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)


def _pull(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.cancel or args.resume or args.list is not None:
        _no_request_options(args)
    if args.cancel:
        return cancel_job(args.cancel, settings)
    if args.list is not None:
        return list_jobs(args.list, settings)

    from gateway.initiating.display import LiveProgress, summary_table, totals_line
    from gateway.initiating.display import console as make_console
    from gateway.initiating.models import GatewayOutcome, JobState
    from gateway.initiating.service import PullService
    from gateway.store import Database, require_existing

    console = make_console()
    request = None if args.resume else _request(args, settings)
    if args.out is not None:
        _check_out(args.out)
    # A pull reads the directory an import stored (a resumed one, its job): a mistyped path is said so, not
    # made an empty database.
    if request is not None:
        require_existing(
            settings.database_url,
            "directory",
            "check database_url, or run `hiegate directory import FILE` first",
        )
    else:
        require_existing(settings.database_url, "pull jobs")
    database = Database(settings.database_url)
    try:
        database.upgrade()
        service = PullService.from_settings(settings, database, later_pulls=False)  # one pull, then exit
        communities = service.communities()
        if not communities:
            raise ConfigError(
                "the directory is empty: run `hiegate directory import FILE` first",
                detail={"setting": "directory"},
            )
        selection = None
        if request is not None:
            _check_named(args.to or (), {c.home_community_id for c in communities})
            selection = _checked_selection(service.select(request, communities), args)
        if args.resume:
            job_id = job_id_argument(args.resume, "resume")
        else:
            assert request is not None
            job_id = _job_for(service, request, selection, console)
        status = 0
        # Everything loaded so far (modules, ORM mappers, certificates, the directory) lives as long as the
        # process: kept out of the cyclic collector, whose first full pass over it (~80 ms) would otherwise
        # land in the middle of the pull.
        gc.collect()
        gc.freeze()
        listeners: list[Listener] = []
        early = None
        if args.out is not None:
            early = _EarlyRecord(service, job_id, args.out, console)
            listeners.append(early.on_event)
        try:
            if args.no_progress:
                summary = asyncio.run(_stoppable(service.run(job_id, listeners=listeners)))
            else:
                with LiveProgress(console, records=early is None) as live:
                    run = service.run(job_id, listeners=[live.on_event, *listeners])
                    summary = asyncio.run(_stoppable(run))
        except (KeyboardInterrupt, _TerminatedError) as stopped:
            # asyncio.run cancelled the job's tasks first: every step already taken is committed.
            console.print(
                f"interrupted: job {job_id} is unfinished; `hiegate pull --resume {job_id}` finishes it "
                "without asking again for what it already has"
            )
            return 143 if isinstance(stopped, _TerminatedError) else 130
        console.print(summary_table(summary))
        console.print(totals_line(summary.counters))
        if summary.state is not JobState.DONE:
            console.print(f"job {job_id} {summary.state.value}: {summary.error_code} {summary.error_detail}")
            status = 1
        elif summary.gateways and all(
            g.outcome in (GatewayOutcome.FAILED, GatewayOutcome.TIMEOUT, GatewayOutcome.CIRCUIT_OPEN)
            for g in summary.gateways
        ):
            # The job ran to its end, but nothing came back: a script must not read that as a pull.
            console.print("nothing came back: every gateway asked failed (their reasons are in the table)")
            status = 3
        if early is not None and summary.bundle is not None:
            _write_bundle(args.out, summary.bundle)
            resources = len(summary.bundle["entry"])  # type: ignore[arg-type]
            merged = " (late gateways merged)" if early.written else ""
            console.print(f"consolidated bundle: {args.out} ({resources} resources){merged}")
        return status
    finally:
        database.dispose()
