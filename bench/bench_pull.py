"""Pull benchmark: one patient pulled from sandboxes of 10, 50 and 200 gateways with a latency distribution
and 10-30 % faulty gateways, through the real network path (mutual TLS, signed requests, audit, conversion).

Prints, per size, beside its target:

* wall time of the pull against the slowest answering gateway (the longest chain of exchanges one healthy
  gateway needed: ITI-55 + ITI-38 + ITI-39, as measured by the initiating side); target wall <= 1.1 x slowest
  + 0.3 s. Gateways that hang are only known by their timeout, so the partner timeout is part of the wall;
* initiating-side CPU per exchange (thread time of building, signing, checking and parsing); target <= 3 ms;
* peak memory (RSS of the whole process: the sandbox runs in the same process);
* documents held after the pull against documents available at healthy gateways; target: all of them.

Usage: ``python bench/bench_pull.py [--sizes 10,50,200] [--faults 20] [--latency SPEC] [--timeout 2.5]``.
The sandbox shares this process (and its GIL) with the pull: the figures are pessimistic on few cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from gateway.config import load_settings
from gateway.directory import import_communities, parse_directory, parse_partners
from gateway.initiating import GatewayOutcome, PullRequest, PullService, default_user
from gateway.sandbox import SandboxConfig, run_sandbox
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


def run(size: int, *, faults: int, latency: str, timeout: float, work: Path) -> dict[str, Any]:
    folder = work / f"n{size}"
    settings = load_settings(None, database_url=f"sqlite:///{folder / 'pull.db'}", certs_dir=work / "certs")
    config = SandboxConfig(
        gateways=size,
        patients=max(10, size // 5),
        seed=size,
        latency=latency,
        faults=_faults(faults, size),
        folder=folder / "sandbox",
        certs_dir=work / "certs",
        threads=32,
    )
    started = time.perf_counter()
    with run_sandbox(config) as sandbox:
        startup = time.perf_counter() - started
        database = Database(settings.database_url)
        database.upgrade()
        with database.session() as session, session.begin():
            import_communities(
                session, parse_directory(sandbox.directory_path.read_bytes()).communities, source="b"
            )
        service = PullService.from_settings(settings, database)
        service.partners = parse_partners(
            f"[defaults]\nconnect_timeout = {timeout}\nread_timeout = {timeout}\ntotal_timeout = {timeout}\n"
            "max_attempts = 2\nretrieve_batch_size = 5\n"
        )
        person = max(
            sandbox.patients, key=lambda p: (len(p["expected"]["gateways"]), p["expected"]["documents"])
        )
        request = PullRequest(demographics=_demographics(person), user=default_user(settings))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        summary = asyncio.run(service.pull(request))
        wall = time.perf_counter() - began
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        database.dispose()
    answering = (GatewayOutcome.OK, GatewayOutcome.NO_MATCH, GatewayOutcome.REJECTED, GatewayOutcome.PARTIAL)
    healthy = [g for g in summary.gateways if g.outcome in answering]
    slowest = max((g.latency_ms for g in healthy), default=0) / 1000
    failed = [g for g in summary.gateways if g.outcome is not None and g.outcome.failed]
    held = summary.counters.documents_retrieved + summary.counters.documents_reused
    return {
        "size": size,
        "startup_s": startup,
        "faulty": sum(1 for g in sandbox.gateways if not g.healthy),
        "failed_reported": len(failed),
        "with_reason": sum(1 for g in failed if g.error_code and g.reason),
        "wall_s": wall,
        "slowest_s": slowest,
        "target_s": 1.1 * slowest + 0.3,
        "cpu_ms": service.cpu.ms_per_exchange,
        "exchanges": service.cpu.exchanges,
        "rss_mb": rss_peak / 1024,
        "rss_growth_mb": (rss_peak - rss_before) / 1024,
        "held": held,
        "available": person["expected"]["documents"],
        "matched": summary.counters.gateways_matched,
        "expected_gateways": len(person["expected"]["gateways"]),
        "state": summary.state.value,
        "failures": Counter(f"{g.error_code} {(g.reason or '')[:40]}" for g in failed),
        "faults": Counter(str(g.fault) for g in sandbox.gateways if not g.healthy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--faults", type=int, default=20, help="share of faulty gateways in %% (10-30)")
    parser.add_argument("--latency", default="lognormal:median=150ms,sigma=0.6")
    parser.add_argument("--timeout", type=float, default=2.5, help="partner timeout in seconds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            rows.append(run(size, faults=args.faults, latency=args.latency, timeout=args.timeout, work=work))
            r = rows[-1]
            print(
                f"n={size}: sandbox up in {r['startup_s']:.1f} s, pull {r['state']} in {r['wall_s']:.2f} s",
                flush=True,
            )
            print(f"  faults planted: {dict(r['faults'])}")
            for reason, n in r["failures"].most_common():
                print(f"  reported {n} x {reason}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nlatency {args.latency}; {args.faults} % faulty gateways; partner timeout {args.timeout:g} s\n")
    header = (
        f"{'gateways':>8} {'faulty':>6} {'reported':>8} {'wall s':>7} {'slowest s':>9} {'target s':>8} "
        f"{'wall ok':>7} {'cpu ms/ex':>9} {'(<=3)':>5} {'exch':>5} {'peak MB':>8} {'docs':>9} {'all':>4}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['size']:>8} {r['faulty']:>6} {r['failed_reported']:>8} {r['wall_s']:>7.2f} "
            f"{r['slowest_s']:>9.2f} {r['target_s']:>8.2f} "
            f"{'yes' if r['wall_s'] <= r['target_s'] else 'NO':>7} {r['cpu_ms']:>9.2f} "
            f"{'yes' if r['cpu_ms'] <= 3 else 'NO':>5} {r['exchanges']:>5} {r['rss_mb']:>8.0f} "
            f"{r['held']:>4}/{r['available']:<4} {'yes' if r['held'] >= r['available'] else 'NO':>4}"
        )


if __name__ == "__main__":
    main()
