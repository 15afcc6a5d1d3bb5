"""Sandbox start-up time for 10, 50 and 200 gateways, and whether the gateways answer correctly.

Run: ``.venv/bin/python bench/bench_sandbox.py [--sizes 10 50 200] [--runs 3] [--patients 10]``.

For each size it starts a sandbox ``--runs`` times (fresh folder, dev PKI created once beforehand, as
``hiegate certs init`` would have) and prints the median start-up time with its phases (PKI, population,
documents, database, servers). After the last run of each size, with the sandbox up, it checks answers over
real signed SOAP and mutual TLS:

* ``discovery``: one ITI-55 per gateway for one person, sequentially: a match exactly where the person has a
  record;
* ``fan-out``: the same ITI-55 to every gateway at once (async client, one connection per gateway), as a
  pull does: all 200 answered, how long the slowest took;
* ``pulls``: every person from every healthy gateway holding them (ITI-55 → ITI-38 → ITI-39): documents
  retrieved equal ``patients.json``'s expectation.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from certs import init_dev_pki
from gateway.sandbox import Sandbox, SandboxConfig, start_sandbox
from gateway.sandbox.probe import SandboxProbe, demographics_of
from gateway.security import async_client
from xca.soap import parse_envelope

_PHASES = ("pki", "population", "documents", "database", "servers", "files")


def _start(size: int, patients: int, certs: Path, folder: Path, seed: int, threads: int) -> Sandbox:
    config = SandboxConfig(
        gateways=size, patients=patients, seed=seed, folder=folder, certs_dir=certs, threads=threads
    )
    return start_sandbox(config)


async def _fan_out(
    sandbox: Sandbox, probe: SandboxProbe, person: dict[str, object]
) -> tuple[int, int, float]:
    requests = [(g, probe.iti55_request(g, demographics_of(person))) for g in sandbox.gateways]
    started = time.perf_counter()
    async with async_client(ssl_context=probe.ssl_context, timeout=60) as client:

        async def one(url: str, data: bytes) -> bool:
            reply = await client.post(url, content=data, headers={"content-type": "application/soap+xml"})
            return reply.status_code == 200 and parse_envelope(reply.content).fault is None

        results = await asyncio.gather(*(one(g.iti55_url, data) for g, data in requests))
    return sum(results), len(results), time.perf_counter() - started


def _check(sandbox: Sandbox, certs: Path) -> None:
    with SandboxProbe(certs, timeout=60) as probe:
        person = max(sandbox.patients, key=lambda p: len(p["expected"]["gateways"]))
        holders = set(person["expected"]["gateways"])
        started = time.perf_counter()
        wrong = sum(
            bool(probe.discover(g, demographics_of(person)).matches) != (g.home_community_id in holders)
            for g in sandbox.gateways
        )
        took = time.perf_counter() - started
        verdict = "all correct" if not wrong else f"{wrong} WRONG"
        each_ms = took * 1000 / len(sandbox.gateways)
        count = len(sandbox.gateways)
        print(f"    discovery  {count} gateways, {len(holders)} holders: {verdict} ({each_ms:.0f} ms each)")
        ok, total, took = asyncio.run(_fan_out(sandbox, probe, person))
        print(f"    fan-out    {ok}/{total} answered in {took:.2f} s (all at once)")
        pulls = missing = 0
        for each in sandbox.patients:
            for hcid, held in each["expected"]["by_gateway"].items():
                gateway = sandbox.gateway(hcid)
                if gateway.healthy:
                    pulls += 1
                    missing += abs(probe.pull(gateway, each).documents - held["retrievable"])
        verdict = "all documents" if not missing else f"{missing} off"
        print(f"    pulls      {pulls} person×gateway pulls: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patients", type=int, default=10)
    parser.add_argument("--threads", type=int, default=SandboxConfig.threads, help="worker threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        certs = Path(tmp) / "certs"
        init_dev_pki(certs)
        print(
            f"sandbox start-up, median of {args.runs} "
            f"(patients {args.patients}, documents 2-4 per record, {args.threads} worker threads)"
        )
        for size in args.sizes:
            totals: list[float] = []
            phases: dict[str, list[float]] = {p: [] for p in _PHASES}
            sandbox: Sandbox | None = None
            for run in range(args.runs):
                if sandbox is not None:
                    sandbox.stop()
                sandbox = _start(
                    size, args.patients, certs, Path(tmp) / f"s{size}-{run}", run + 1, args.threads
                )
                totals.append(sandbox.timings["total"])
                for phase in _PHASES:
                    phases[phase].append(sandbox.timings[phase])
            detail = ", ".join(f"{p} {statistics.median(v):.2f}" for p, v in phases.items())
            print(f"  {size:>4} gateways  {statistics.median(totals):6.2f} s   ({detail})")
            assert sandbox is not None
            try:
                _check(sandbox, certs)
            finally:
                started = time.perf_counter()
                sandbox.stop()
                print(f"    stop       {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
