"""Pull benchmark: one patient pulled from sandboxes of 10, 50 and 200 gateways with a latency distribution
and 10-30 % faulty gateways, through the real network path (mutual TLS, signed requests, audit, conversion).

By default the sandbox runs as its own process (``hiegate sandbox`` with a folder under a temp dir and the
pull's certs dir), so its servers no longer share this process's GIL; ``--in-process`` runs it in this
process (``gateway.sandbox.run_sandbox``) as before, for comparison.

Prints, per size, beside its target:

* time to the record and wall time of the whole job:

  - "record s": when the patient's record was published, seconds after the pull began. The record is
    published once the only work left is requests overdue against the pull's own answers
    (:mod:`gateway.initiating.settle`), or at the end of the job. "record ok" is issue #8's target:
    record <= 1.1 x slowest + 0.3 s, where "slowest" is the slowest answering gateway (the longest chain of
    exchanges one healthy gateway needed: ITI-55 + ITI-38 + ITI-39, as measured by the initiating side);
  - "complete s": the first published record that holds every document the job ends with: the record is
    published again as late gateways finish, so a healthy gateway slower than the rule allows adds its
    documents when it is done. "complete ok": complete <= the same target;
  - "wall s": the whole job, which still waits for hanging gateways up to the partner timeout and merges
    what late gateways send. "overhead ok": wall <= 1.1 x network bound + 0.3 s, where the network bound
    ("net s") is max(slowest answering chain, the partner timeout when any gateway timed out): the pull's
    own overhead on top of what the network imposes;
* gateway CPU per exchange ("gw ms/ex", target <= 3 ms): the CPU the exchanges themselves execute, each
  charged its own coroutine's steps (:meth:`gateway.initiating.cpu.CpuMeter.run`): building and signing the
  request, the TLS handshake and records, the HTTP client, checking the answer (SOAP, addressing, faults)
  and parsing it, and closing the pull's connections at its end (with the TLS sessions read for later
  pulls), divided by the exchanges. Beside it, "rsa ms", the part no implementation of the protocol
  avoids on this machine: its RSA-2048 signature time (measured at start) times the private-key operations
  per exchange (2 per signed request sent, retries included, and 1 per mutual-TLS handshake, counted on the
  pull's SSL context); "xml ms", the building, signing, checking and parsing within it;
* the pull's whole CPU per exchange ("pull ms/ex"): ``time.process_time()`` of this process over the pull
  (every thread) divided by the exchanges, which adds to the exchanges the job around them, split as
  "loop" (the event loop's other work: the job's orchestration, progress events, settling), "writer" (the
  pull's storage thread: steps, audit records, commits, stored documents) and "conv" (its conversion
  thread: C-CDA to FHIR and consolidation), each per exchange. With a separate sandbox process that is the
  pull's CPU alone; in-process it also holds the sandbox's;
* peak memory (RSS high-water mark of this process; the sandbox process's own is shown separately);
* documents held after the pull against documents available at healthy gateways; target: all of them;
  "in rec" is how many of them the record already held when it was published;
* the sandbox's start-up time (process start to ``directory.json`` + ``patients.json`` written).

Each size is pulled ``--runs`` times (3) per connection mode (``--connections cold,resumed,warm``), each
pull into its own database so each retrieves every document, and the table of every pull is followed by the
medians per size and mode with how many runs met each target. The modes: ``cold``, a one-shot ``hiegate
pull``: one TLS connection per gateway with a full handshake (the TLS sessions of the unmeasured pull before
are forgotten) and, as that command's service, no sessions kept for later pulls (a session is read only for
another connection of the pull: :mod:`gateway.initiating.tls_sessions`); ``resumed``, new connections that
resume the TLS sessions the service kept from the pull before (an abbreviated handshake: no certificates, no
signature; as the FHIR API's worker once its idle connections expired), the sessions they leave read when they
close, at the end of the pull, and charged to its exchanges; ``warm``, a service that pulled another patient
just before inside ``PullService.connections()`` and sends over the connections that pull left open (as the
FHIR API's worker between close pulls).

Before each measured pull, the same service pulls another patient on the same database, unmeasured, as a
running gateway has done before (``--no-warmup`` skips it for ``cold``, which then measures a one-shot
``hiegate pull`` in a fresh process): the process's one-time costs (lazy imports, the converter's tables) and
its database engine's (each SQL statement compiled on first use, cached per engine) are paid once, and would
otherwise be charged to the measured pull's exchanges.

Before each pull the objects this process made while starting (modules, ORM mappers, certificates, the
sandbox's directory) are frozen out of the cyclic garbage collector (``gc.freeze()``, as a long-running
worker does once after start-up): otherwise the first full collection of that start-up heap (~80 ms) lands in
whichever pull runs first and is charged to its exchanges. ``--no-gc-freeze`` measures without it.

The sandbox's worker threads default to 4, the ``hiegate sandbox`` default (see
:mod:`gateway.sandbox.runtime`: on 2 cores more threads only make its handlers fight over one GIL; at 200
gateways 32 threads made healthy gateways miss the partner timeout). ``--sandbox-threads`` sets another
number.

Usage: ``python bench/bench_pull.py [--sizes 10,50,200] [--faults 20] [--latency SPEC] [--timeout 5]
[--in-process] [--sandbox-threads 4] [--no-gc-freeze] [--no-warmup] [--connections cold,resumed,warm]
[--runs 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import resource
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _pull_report import print_medians, print_table
from _sandbox_run import RunningSandbox, proc_cpu_s, proc_peak_mb, sandbox_in_process, sandbox_process
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.config import load_settings
from gateway.directory import import_communities, parse_directory, parse_partners
from gateway.initiating import (
    EventKind,
    GatewayOutcome,
    ProgressEvent,
    PullRequest,
    PullService,
    default_user,
)
from gateway.initiating.tls_sessions import TlsSessions
from gateway.sandbox import SandboxConfig
from gateway.sandbox.plan import plan_gateways
from gateway.store import Database
from xca.iti55 import Address, AdministrativeGender, Demographics, PersonName


def _demographics(person: dict[str, Any]) -> Demographics:
    address = person.get("address") or {}
    return Demographics(
        names=(PersonName(given=tuple(str(person["given"]).split()), family=person["family"]),),
        gender=AdministrativeGender(person["gender"]),
        birth_date=dt.date.fromisoformat(person["birth_date"]),
        addresses=(
            Address(tuple(address.get("line") or ()), address.get("city"), address.get("state"),
                    address.get("postalCode"), address.get("country")),
        ),
    )  # fmt: skip


def _faults(share: int, size: int) -> str:
    """``share`` % of the gateways faulty, spread over up to five fault modes."""
    modes = ("http500", "timeout", "connection-reset", "soapfault", "malformed-xml")
    faulty = max(1, round(size * share / 100))
    used = modes[: min(len(modes), faulty)]
    return ",".join(f"{mode}:{share / len(used):g}%" for mode in used)


def _open_database(url: str, directory: bytes) -> Database:
    database = Database(url)
    database.upgrade()
    with database.session() as session, session.begin():
        import_communities(session, parse_directory(directory).communities, source="b")
    return database


def run(size: int, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """One sandbox of ``size`` gateways; the same patient pulled once per connection mode (see the module's
    description), each into its own database so each retrieves every document."""
    folder = work / f"n{size}"
    settings = load_settings(None, database_url=f"sqlite:///{folder / 'pull.db'}", certs_dir=work / "certs")
    config = SandboxConfig(
        gateways=size,
        patients=max(10, size // 5),
        seed=size,
        latency=args.latency,
        faults=_faults(args.faults, size),
        folder=folder / "sandbox",
        certs_dir=work / "certs",
        key_password=settings.key_password.get_secret_value() if settings.key_password else None,
        threads=args.sandbox_threads,
    )
    planted = Counter(str(p.fault) for p in plan_gateways(config) if p.fault is not None)
    if args.in_process:
        running = sandbox_in_process(config)
    else:
        running = sandbox_process(
            config, log=folder / "sandbox.log", startup_timeout=args.startup_timeout, stop_timeout=15
        )
    partners = parse_partners(
        f"[defaults]\nconnect_timeout = {args.timeout}\nread_timeout = {args.timeout}\n"
        f"total_timeout = {args.timeout}\nmax_attempts = 2\nretrieve_batch_size = 5\n"
    )
    rows: list[dict[str, Any]] = []
    with running as sandbox:
        directory = sandbox.directory_path.read_bytes()
        person = max(
            sandbox.patients, key=lambda p: (len(p["expected"]["gateways"]), p["expected"]["documents"])
        )
        other = next(p for p in sandbox.patients if p is not person and p["expected"]["documents"])

        def service_on(name: str) -> tuple[PullService, Database]:
            database = _open_database(f"sqlite:///{folder / name}", directory)
            service = PullService.from_settings(settings, database)
            service.partners = partners
            return service, database

        def request(who: dict[str, Any]) -> PullRequest:
            return PullRequest(demographics=_demographics(who), user=default_user(settings))

        # Run after run, each mode in turn: what disturbs the machine for a while lands on every mode.
        for attempt, mode in ((a, m) for a in range(args.runs) for m in args.connections):
            service, database = service_on(f"pull-{mode}-{attempt}.db")

            async def after_another(service: PullService = service, mode: str = mode) -> dict[str, Any]:
                # First an unmeasured pull of another patient by the same service on the same database, as
                # a running gateway has made before: the process's one-time costs (lazy imports, the
                # converter's tables) and the database engine's (each statement compiled on its first use)
                # are paid once, not charged to the measured pull's exchanges. ``warm`` keeps that pull's
                # connections open for the measured one; ``resumed`` and ``cold`` open new ones (a transport
                # per run), ``resumed`` with that pull's TLS sessions, ``cold`` without.
                kept = service.connections() if mode == "warm" else contextlib.nullcontext()
                async with kept:
                    if mode != "cold" or args.warmup:
                        await service.pull(request(other))
                    if mode == "cold":
                        service.tls_sessions = TlsSessions(lasting=False)  # as hiegate pull's
                    return await _measure(service, request(person), sandbox, args)

            result = asyncio.run(after_another())
            database.dispose()
            rows.append(_row(result, size=size, mode=mode, person=person, planted=planted, args=args))
            rows[-1]["startup_s"] = sandbox.startup_s
            rows[-1]["run"] = attempt + 1
    return rows


async def _measure(
    service: PullService, request: PullRequest, sandbox: RunningSandbox, args: argparse.Namespace
) -> dict[str, Any]:
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    sandbox_cpu_before = proc_cpu_s(sandbox.pid) if sandbox.pid else None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    loop_before = time.thread_time()
    service.cpu.reset()
    # Client handshakes completed on the pull's one SSL context: full ones sign a CertificateVerify (mutual
    # TLS), resumed ones ("hits") do not.
    stats_before = service.ssl_context.session_stats()
    began = time.perf_counter()
    at_record: list[tuple[float, int]] = []

    def on_event(event: ProgressEvent) -> None:
        # The event follows the commit: from here on the record is readable (API, $everything).
        if event.kind in (EventKind.RECORD_READY, EventKind.RECORD_UPDATED):
            c = event.counters
            at_record.append((time.perf_counter() - began, c.documents_retrieved + c.documents_reused))

    summary = await service.pull(request, listeners=[on_event])
    wall = time.perf_counter() - began
    loop_cpu = time.thread_time() - loop_before
    cpu = time.process_time() - cpu_before
    threads = dict(service.cpu.threads)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sandbox_cpu_s = sandbox_peak_mb = None
    if sandbox.pid:
        after = proc_cpu_s(sandbox.pid)
        if after is not None and sandbox_cpu_before is not None:
            sandbox_cpu_s = after - sandbox_cpu_before
        sandbox_peak_mb = proc_peak_mb(sandbox.pid)
    return {
        "summary": summary,
        "wall_s": wall,
        "at_record": at_record,
        "cpu_s": cpu,
        "loop_cpu_s": loop_cpu,
        "threads_s": threads,
        "exchanges": service.cpu.exchanges,
        "messages": service.cpu.messages,
        "handshakes": _handshakes(service.ssl_context.session_stats(), stats_before),
        "meter_ms": service.cpu.ms_per_exchange,
        "exchange_ms": service.cpu.exchange_ms,
        "rss_peak": rss_peak,
        "rss_before": rss_before,
        "sandbox_cpu_s": sandbox_cpu_s,
        "sandbox_peak_mb": sandbox_peak_mb,
    }


def _handshakes(after: dict[str, int], before: dict[str, int]) -> tuple[int, int]:
    """Full and resumed client handshakes between two ``session_stats()``."""
    resumed = after["hits"] - before["hits"]
    return after["connect_good"] - before["connect_good"] - resumed, resumed


def _row(
    result: dict[str, Any],
    *,
    size: int,
    mode: str,
    person: dict[str, Any],
    planted: Counter[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    summary = result["summary"]
    wall, at_record, cpu = result["wall_s"], result["at_record"], result["cpu_s"]
    exchanges = result["exchanges"]
    # The RSA-2048 private-key operations the pull cannot avoid: two signatures per signed request (the
    # assertion's and the holder-of-key one over the Timestamp) and one per full mutual-TLS handshake, at
    # this machine's measured cost per signature.
    full_handshakes, resumed_handshakes = result["handshakes"]
    private_key_ops = 2 * result["messages"] + full_handshakes
    rsa_ms = private_key_ops * args.rsa_sign_ms / exchanges if exchanges else 0.0
    answering = (GatewayOutcome.OK, GatewayOutcome.NO_MATCH, GatewayOutcome.REJECTED, GatewayOutcome.PARTIAL)
    healthy = [g for g in summary.gateways if g.outcome in answering]
    slowest = max((g.latency_ms for g in healthy), default=0) / 1000
    timed_out = sum(1 for g in summary.gateways if g.outcome is GatewayOutcome.TIMEOUT)
    network_bound = max(slowest, args.timeout if timed_out else 0.0)
    failed = [g for g in summary.gateways if g.outcome is not None and g.outcome.failed]
    held = summary.counters.documents_retrieved + summary.counters.documents_reused
    record_s = at_record[0][0] if at_record else wall
    # The first publication holding every document the job ends with (late gateways merged as they finish),
    # else the job's end, which publishes the final record.
    complete_s = next((t for t, docs in at_record if docs >= held), wall)
    return {
        "size": size,
        "mode": mode,
        "faulty": sum(planted.values()),
        "failed_reported": len(failed),
        "with_reason": sum(1 for g in failed if g.error_code and g.reason),
        "wall_s": wall,
        "record_s": record_s,
        "complete_s": complete_s,
        "in_record": at_record[0][1] if at_record else held,
        "late": sum(1 for g in summary.gateways if g.late),
        "slowest_s": slowest,
        "target_s": 1.1 * slowest + 0.3,
        "timed_out": timed_out,
        "network_s": network_bound,
        "overhead_target_s": 1.1 * network_bound + 0.3,
        "cpu_ms": cpu * 1000 / exchanges if exchanges else 0.0,
        "loop_ms": result["loop_cpu_s"] * 1000 / exchanges if exchanges else 0.0,
        "writer_ms": result["threads_s"].get("writer", 0.0) * 1000 / exchanges if exchanges else 0.0,
        "convert_ms": result["threads_s"].get("convert", 0.0) * 1000 / exchanges if exchanges else 0.0,
        "cpu_s": cpu,
        "rsa_ms": rsa_ms,
        "handshakes": full_handshakes,
        "resumed": resumed_handshakes,
        "messages": result["messages"],
        "meter_ms": result["meter_ms"],
        "exchange_ms": result["exchange_ms"],
        "exchanges": exchanges,
        "sandbox_cpu_s": result["sandbox_cpu_s"],
        "sandbox_peak_mb": result["sandbox_peak_mb"],
        "rss_mb": result["rss_peak"] / 1024,
        "rss_growth_mb": (result["rss_peak"] - result["rss_before"]) / 1024,
        "held": held,
        "available": person["expected"]["documents"],
        "matched": summary.counters.gateways_matched,
        "expected_gateways": len(person["expected"]["gateways"]),
        "state": summary.state.value,
        "failures": Counter(f"{g.error_code} {(g.reason or '')[:40]}" for g in failed),
        "faults": planted,
    }


def _rsa_sign_ms(runs: int = 7, per_run: int = 50) -> float:
    """This machine's CPU milliseconds per RSA-2048 signature: the median of ``runs`` runs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = b"\0" * 32
    samples = []
    for _ in range(runs):
        began = time.process_time()
        for _ in range(per_run):
            key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        samples.append((time.process_time() - began) * 1000 / per_run)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--faults", type=int, default=20, help="share of faulty gateways in %% (10-30)")
    parser.add_argument("--latency", default="lognormal:median=150ms,sigma=0.6")
    parser.add_argument("--timeout", type=float, default=5.0, help="partner timeout in seconds (5)")
    parser.add_argument(
        "--in-process", action="store_true", help="run the sandbox in this process (shares the GIL)"
    )
    parser.add_argument("--sandbox-threads", type=int, default=4, help="sandbox worker threads (4)")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="do not freeze the start-up heap out of the garbage collector before each pull",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="cold: no unmeasured pull of another patient first (a one-shot pull in a fresh process)",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=300, help="seconds to wait for the sandbox process (300)"
    )
    parser.add_argument(
        "--connections",
        default="cold,resumed,warm",
        help="connection modes to measure, comma-separated: cold, resumed, warm (all three)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="measured pulls per size and connection mode, each on its own database (3)",
    )
    args = parser.parse_args()
    args.connections = [m.strip() for m in args.connections.split(",") if m.strip()]
    if not args.connections or set(args.connections) - {"cold", "resumed", "warm"}:
        parser.error("--connections takes cold, resumed, warm or several of them")
    args.rsa_sign_ms = _rsa_sign_ms()
    print(f"this machine: one RSA-2048 PKCS#1 v1.5 SHA-256 signature takes {args.rsa_sign_ms:.3f} ms CPU")
    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            for r in run(size, args, work):
                rows.append(r)
                print(
                    f"n={size} {r['mode']}: sandbox up in {r['startup_s']:.1f} s, "
                    f"record in {r['record_s']:.2f} s, pull {r['state']} in {r['wall_s']:.2f} s "
                    f"({r['cpu_s']:.2f} s CPU here, {r['exchanges']} exchanges)",
                    flush=True,
                )
                print(f"  faults planted: {dict(r['faults'])}")
                for reason, n in r["failures"].most_common():
                    print(f"  reported {n} x {reason}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, args)
    print_medians(rows, args)


if __name__ == "__main__":
    main()
