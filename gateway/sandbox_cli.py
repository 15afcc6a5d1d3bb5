"""``hiegate sandbox``: start N simulated responding gateways on 127.0.0.1 and keep them up until Ctrl-C.

Light at import (argparse only); the handler imports the sandbox when it runs. Output: a table of the
gateways (community, port, fault, latency), the persons to try with their ``hiegate pull`` command lines,
and where ``directory.json`` and ``patients.json`` are. Everything shown is synthetic.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from xca.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.sandbox import Sandbox

__all__ = ["add_sandbox_commands", "pull_command"]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def pull_command(person: dict[str, Any]) -> str:
    """The ``hiegate pull`` command line for one ``patients.json`` entry (``--given`` once per given name)."""
    address = person.get("address") or {}
    street = ", ".join(address.get("line") or [])
    where = (
        f"{street}, {address.get('city')}, {address.get('state')} {address.get('postalCode') or ''}".strip()
    )
    parts = ["hiegate", "pull"]
    for given in str(person["given"]).split():
        parts += ["--given", given]
    parts += [
        "--family",
        person["family"],
        "--birth-date",
        person["birth_date"],
        "--gender",
        person["gender"],
    ]
    parts += ["--address", where, "--phone", person["phone"], "--purpose", "TREATMENT"]
    return shlex.join(parts)


def _documents(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ConfigError("--documents must be N or LOW-HIGH", detail={"setting": "documents"}) from None


def _print(sandbox: Sandbox, started: float, *, stays_up: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    gateways = Table(title=f"{len(sandbox.gateways)} sandbox gateways (mutual TLS on 127.0.0.1)")
    for column in (
        "gateway",
        "homeCommunityId",
        "port",
        "organization",
        "place",
        "fault",
        "latency",
        "pts/docs",
    ):
        gateways.add_column(column, no_wrap=column in ("homeCommunityId", "port"))
    for g in sandbox.gateways:
        gateways.add_row(
            g.label,
            g.home_community_id,
            str(g.port),
            g.organization_name,
            f"{g.place.city}, {g.place.state}",
            g.fault.value if g.fault else "-",
            str(g.latency) if g.latency else "-",
            f"{g.patients}/{g.documents}",
        )
    console.print(gateways)
    people = Table(title="Persons to try (docs: expected from healthy gateways)")
    for column in ("person", "name", "gender", "born", "records at", "docs"):
        people.add_column(column)
    for person in sandbox.patients:
        expected = person["expected"]
        labels = ", ".join(g["label"] + ("" if g["fault"] is None else f" ({g['fault']})")
                           for g in expected["by_gateway"].values())  # fmt: skip
        people.add_row(
            person["label"],
            f"{person['given']} {person['family']}",
            person["gender"],
            person["birth_date"],
            labels,
            str(expected["documents"]),
        )
    console.print(people)
    for person in sandbox.patients:
        console.print(f"{person['label']}: {pull_command(person)}", soft_wrap=True, highlight=False)
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in sandbox.timings.items() if k != "total")
    console.print(f"directory: {sandbox.directory_path}\npatients:  {sandbox.patients_path}\n"
                  f"decoys:    {sandbox.decoys_path}\ndatabase:  {sandbox.database_path}")  # fmt: skip
    stop = "; Ctrl-C stops the sandbox" if stays_up else ""
    console.print(f"started in {time.perf_counter() - started:.1f} s ({timings}){stop}")


def _check(sandbox: Sandbox, settings: Settings) -> int:
    from gateway.sandbox.probe import SandboxProbe

    password = settings.key_password.get_secret_value() if settings.key_password else None
    wrong = 0
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with SandboxProbe(settings.certs_dir, key_password=password) as probe:
        for person in sandbox.patients:
            for hcid, held in person["expected"]["by_gateway"].items():
                gateway = sandbox.gateway(hcid)
                if not gateway.healthy:
                    continue
                result = probe.pull(gateway, person)
                if result.documents != held["retrievable"]:
                    wrong += 1
                    got, wanted = result.documents, held["retrievable"]
                    print(f"check: {person['label']} at {gateway.label}: {got} of {wanted} documents")
    print(f"check: {'all answers correct' if not wrong else f'{wrong} wrong answer(s)'}")
    return 1 if wrong else 0


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.sandbox import SandboxConfig, start_sandbox

    started = time.perf_counter()
    config = SandboxConfig(
        gateways=args.gateways,
        patients=args.patients,
        seed=args.seed,
        latency=args.latency,
        faults=args.faults,
        folder=args.folder,
        certs_dir=settings.certs_dir,
        key_password=settings.key_password.get_secret_value() if settings.key_password else None,
        base_port=args.port,
        documents=_documents(args.documents),
        pdf=args.pdf,
        background=args.background,
        threads=args.threads,
    )
    sandbox = start_sandbox(config)
    try:
        _print(sandbox, started, stays_up=not args.exit)
        # The start-up heap (modules, certificates, ORM mappers, the gateways' apps) lives as long as the
        # process: kept out of the cyclic collector, whose full passes over it would land in requests.
        gc.collect()
        gc.freeze()
        if args.check or args.exit:
            status = _check(sandbox, settings) if args.check else 0
            if args.exit:
                return status
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping the sandbox")
        return 0
    finally:
        sandbox.stop()


def add_sandbox_commands(commands: Commands) -> None:
    """``sandbox``."""
    sandbox = commands.add_parser(
        "sandbox", help="run simulated responding gateways on 127.0.0.1 (Ctrl-C stops)"
    )
    sandbox.add_argument(
        "--gateways", type=int, default=5, metavar="N", help="gateways to start (1-200, default 5)"
    )
    sandbox.add_argument("--patients", type=int, default=10, metavar="P", help="persons to try (default 10)")
    sandbox.add_argument(
        "--latency",
        metavar="DIST",
        help="per-request delay, e.g. fixed:200ms, uniform:50ms-400ms, lognormal:median=150ms,sigma=0.5; "
        "per gateway or share: 'lognormal:median=150ms,sigma=0.5; fixed:2s@gw3+gw7; uniform:1s-3s@10%%'",
    )
    sandbox.add_argument(
        "--faults",
        metavar="SPEC",
        help="MODE:TARGETS,... with TARGETS gw3, 3 or 10%% (joined by +); modes: timeout, slow-drip, "
        "http500, soapfault, registry-error, malformed-xml, connection-reset, tls-wrong-cert, "
        "tls-expired-cert, no-match, partial-retrieve",
    )
    sandbox.add_argument("--seed", type=int, default=1, help="seed of everything synthetic (default 1)")
    sandbox.add_argument(
        "--folder", type=Path, default=Path("var/sandbox"), help="output folder (var/sandbox)"
    )
    sandbox.add_argument(
        "--port", type=int, default=0, help="first port (gateway i on PORT+i; default: free ports)"
    )
    sandbox.add_argument("--documents", default="2-4", metavar="N|LOW-HIGH", help="C-CDAs per record (2-4)")
    sandbox.add_argument("--pdf", action="store_true", help="add a PDF document to every record")
    sandbox.add_argument("--background", type=int, default=2, help="document-less patients per gateway (2)")
    sandbox.add_argument("--threads", type=int, default=4, help="worker threads shared by all gateways (4)")
    sandbox.add_argument("--check", action="store_true", help="pull every person from every healthy gateway")
    sandbox.add_argument(
        "--exit", action="store_true", help="stop after start-up (and --check) instead of waiting"
    )
    sandbox.set_defaults(handler=_sandbox)
