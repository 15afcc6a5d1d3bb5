"""The tables ``bench_pull.py`` prints: one row per measured pull with the legend of its columns, then the
medians per size and connection mode with how many runs met each target (the rows are ``bench_pull._row``'s
dicts)."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

__all__ = ["print_medians", "print_table"]


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    mode = "in this process (shares its GIL)" if args.in_process else "separate process (hiegate sandbox)"
    print(f"\nlatency {args.latency}; {args.faults} % faulty gateways; partner timeout {args.timeout:g} s")
    print(f"sandbox: {mode}, {args.sandbox_threads} worker threads")
    print("gw ms/ex: the CPU of the exchanges themselves (each charged its own coroutine's steps: building,")
    print("  signing, TLS, HTTP, checking, parsing) per exchange; target <= 3 ms (issue #8)")
    print(f"rsa ms: this machine's RSA-2048 signature ({args.rsa_sign_ms:.3f} ms, measured at start) x the")
    print("  private-key operations per exchange: 2 per signed request sent (retries included) + 1 per full")
    print("  mutual-TLS handshake ('msgs', 'hs'; 'res': resumed handshakes, without one): the part no")
    print("  implementation of the protocol avoids here")
    print("xml ms: building, signing, checking and parsing (within gw ms/ex)")
    if args.in_process:
        print("pull ms/ex: process_time of this process / exchanges, INCLUDING the sandbox's CPU")
        print("peak MB: this process, sandbox included")
    else:
        print("pull ms/ex: process_time of this process (the whole pull, every thread) / exchanges; the")
        print("  sandbox's CPU is in another process, not counted ('sbx cpu s', for reference)")
        print("peak MB: this process (the pull); 'sbx MB': the sandbox process's peak RSS")
    print("  of which, per exchange: loop = the event loop's other work (the job's orchestration, events);")
    print("  writer = the pull's storage thread (steps, audit records, commits); conv = its conversion")
    print("  thread (C-CDA to FHIR, consolidation)")
    print("conn: cold = new connections, full TLS handshakes (a one-shot pull); resumed = new connections")
    print("  resuming the TLS sessions of the service's pull before (the API's worker after its idle")
    print("  connections expired); warm = the connections the pull before left open")
    print("  (PullService.connections)")
    print("record s: the record published (early: only overdue requests left; else at the end of the job)")
    print("record ok: record <= target = 1.1 x slowest answering gateway + 0.3 s (issue #8)")
    print("complete s: the first published record holding every document the job ends with (late")
    print("  gateways' documents are merged as they finish); complete ok: complete <= the same target")
    print("wall s: the whole job; overhead ok: wall <= 1.1 x net + 0.3 s; net = max(slowest answering,")
    print("  partner timeout if any gateway timed out): the pull's own overhead on top of the network's")
    print("late: gateways still asked when the record was published; in rec: documents the record held")
    frozen = "frozen before each pull" if args.gc_freeze else "NOT frozen (--no-gc-freeze)"
    warm = (
        "one unmeasured pull of another patient first, same service and database"
        if args.warmup
        else "cold: NOT warmed (--no-warmup), a one-shot pull in a fresh process"
    )
    print(f"gc: start-up heap {frozen}; process: {warm}\n")
    header = (
        f"{'gateways':>8} {'conn':>7} {'run':>3} {'sbx up s':>8} {'faulty':>6} {'reported':>8} "
        f"{'record s':>8} {'slowest s':>9} "
        f"{'target s':>8} {'record ok':>9} {'late':>4} {'complete s':>10} {'complete ok':>11} "
        f"{'wall s':>7} {'net s':>6} {'overhead ok':>11} "
        f"{'gw ms/ex':>8} {'(<=3)':>5} {'rsa ms':>6} {'xml ms':>6} {'pull ms/ex':>10} {'loop':>5} "
        f"{'writer':>6} {'conv':>5} {'exch':>5} {'msgs':>5} {'hs':>4} {'res':>4} {'peak MB':>8} "
        f"{'sbx cpu s':>9} "
        f"{'sbx MB':>7} {'in rec':>6} {'docs':>9} {'all':>4}"
    )
    print(header)
    for r in rows:
        sbx_cpu = "-" if r["sandbox_cpu_s"] is None else f"{r['sandbox_cpu_s']:.2f}"
        sbx_mb = "-" if r["sandbox_peak_mb"] is None else f"{r['sandbox_peak_mb']:.0f}"
        print(
            f"{r['size']:>8} {r['mode']:>7} {r['run']:>3} {r['startup_s']:>8.1f} {r['faulty']:>6} "
            f"{r['failed_reported']:>8} "
            f"{r['record_s']:>8.2f} {r['slowest_s']:>9.2f} {r['target_s']:>8.2f} "
            f"{'yes' if r['record_s'] <= r['target_s'] else 'NO':>9} {r['late']:>4} "
            f"{r['complete_s']:>10.2f} {'yes' if r['complete_s'] <= r['target_s'] else 'NO':>11} "
            f"{r['wall_s']:>7.2f} {r['network_s']:>6.2f} "
            f"{'yes' if r['wall_s'] <= r['overhead_target_s'] else 'NO':>11} {r['exchange_ms']:>8.2f} "
            f"{'yes' if r['exchange_ms'] <= 3 else 'NO':>5} {r['rsa_ms']:>6.2f} {r['meter_ms']:>6.2f} "
            f"{r['cpu_ms']:>10.2f} {r['loop_ms'] - r['exchange_ms']:>5.2f} "
            f"{r['writer_ms']:>6.2f} {r['convert_ms']:>5.2f} {r['exchanges']:>5} {r['messages']:>5} "
            f"{r['handshakes']:>4} {r['resumed']:>4} "
            f"{r['rss_mb']:>8.0f} {sbx_cpu:>9} {sbx_mb:>7} {r['in_record']:>6} "
            f"{r['held']:>4}/{r['available']:<4} {'yes' if r['held'] >= r['available'] else 'NO':>4}"
        )


def print_medians(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per size and connection mode: the median of each figure over the runs, and how many runs met each
    target."""
    print(f"\nmedian of {args.runs} runs per size and connection mode; 'met': runs that met the target")
    print(
        f"{'gateways':>8} {'conn':>7} {'gw ms/ex':>8} {'met (<=3)':>9} {'rsa ms':>6} {'xml ms':>6} "
        f"{'pull ms/ex':>10} {'record s':>8} {'target s':>8} {'record met':>10} {'wall s':>7} "
        f"{'overhead met':>12} {'faults reported':>15} {'all docs':>8}"
    )
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["size"], r["mode"]), []).append(r)
    for (size, mode), runs in groups.items():

        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[key] for r in runs))

        def met(test: Callable[[dict[str, Any]], bool], runs: list[dict[str, Any]] = runs) -> str:
            return f"{sum(1 for r in runs if test(r))}/{len(runs)}"

        print(
            f"{size:>8} {mode:>7} {median('exchange_ms'):>8.2f} {met(lambda r: r['exchange_ms'] <= 3):>9} "
            f"{median('rsa_ms'):>6.2f} {median('meter_ms'):>6.2f} {median('cpu_ms'):>10.2f} "
            f"{median('record_s'):>8.2f} {median('target_s'):>8.2f} "
            f"{met(lambda r: r['record_s'] <= r['target_s']):>10} {median('wall_s'):>7.2f} "
            f"{met(lambda r: r['wall_s'] <= r['overhead_target_s']):>12} "
            f"{met(lambda r: r['failed_reported'] >= r['faulty'] and r['with_reason'] >= r['faulty']):>15} "
            f"{met(lambda r: r['held'] >= r['available']):>8}"
        )
