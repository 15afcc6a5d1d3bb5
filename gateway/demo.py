"""``hiegate demo`` (``make demo``): the whole pull over a real (simulated) network, and what it did.

1. the development PKI is created (or kept) and checked against its trust bundle;
2. the database is migrated;
3. a sandbox of five responding gateways starts in this process on 127.0.0.1 over mutual TLS, one of them
   faulty (HTTP 500), each its own community with synthetic patients and C-CDA documents;
4. its FHIR directory is imported, and one of its patients is pulled through the real network path: ITI-55 to
   every gateway (signed SAML XUA + WS-Security), match evaluation, ITI-38, ITI-39, conversion to FHIR and
   consolidation, every exchange audited;
5. the summary table is printed, and the consolidated FHIR Bundle and the audit export (FHIR AuditEvent
   NDJSON) are written under ``var/demo/``; the audit chain is verified and its head anchored (signed, one
   line appended to ``var/demo/anchors.jsonl``), as ``hiegate audit verify`` and ``anchor`` do.

A second run keeps the PKI, reuses the links and finds the documents already stored. Output shows only
synthetic data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

from certs import check_dev_pki, init_dev_pki
from gateway.config import Settings, masked_settings
from gateway.store import Database, Tenant

__all__ = ["DEMO_FOLDER", "DEMO_SEED", "run_demo"]

DEMO_FOLDER = Path("var/demo")
# Not ``hiegate sandbox``'s default seed (1): the seed names the sandbox's communities and documents, so a
# sandbox started after the demo has ids of its own and none of the demo patient's documents look held.
DEMO_SEED = 7


def _say(label: str, text: str, ms: float | None = None) -> None:
    timing = f"  ({ms:.0f} ms)" if ms is not None else ""
    print(f"  {label:<10} {text}{timing}")


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run_demo(settings: Settings) -> int:
    shown = masked_settings(settings)
    print("hie-gateway demo: pull one patient's records from a sandbox network of five gateways\n")
    print(
        f"  settings   database {shown['database_url']}, certs {settings.certs_dir}, "
        f"homeCommunityId {settings.home_community_id}"
    )
    password = settings.key_password.get_secret_value() if settings.key_password else None
    started = time.perf_counter()
    pki = init_dev_pki(settings.certs_dir, key_password=password)
    created = sum(1 for f in pki.files if f.status.value != "kept")
    report = check_dev_pki(settings.certs_dir, key_password=password)
    _say(
        "PKI",
        f"{len(pki.files)} files in {settings.certs_dir} ({created} created, "
        f"{len(pki.files) - created} kept); {len(report.checks)} certificates "
        f"{'valid against the trust bundle' if report.ok else 'FAILED validation'}",
        _since(started),
    )
    for warning in report.warnings:
        _say("", f"warning: {warning}")
    if not report.ok:
        print(report)
        return 1
    db = Database(settings.database_url)
    try:
        started = time.perf_counter()
        _say("database", f"schema at revision {db.upgrade()}", _since(started))
        return _pull(settings, db, password)
    finally:
        db.dispose()


def _demographics(person: dict[str, Any]) -> Any:
    from xca.iti55 import Address, AdministrativeGender, Demographics, PersonName, Telecom

    address = person.get("address") or {}
    return Demographics(
        names=(PersonName(given=tuple(str(person["given"]).split()), family=person["family"], use="L"),),
        gender=AdministrativeGender(person["gender"]),
        birth_date=dt.date.fromisoformat(person["birth_date"]),
        addresses=(
            Address(
                tuple(address.get("line") or ()),
                address.get("city"),
                address.get("state"),
                address.get("postalCode"),
                address.get("country"),
                "H",
            ),
        ),
        telecoms=(Telecom(f"tel:{person['phone']}", "HP"),) if person.get("phone") else (),
    )


def _verify_and_anchor(
    settings: Settings, db: Database, password: str | None, anchors: Path
) -> tuple[bool, str]:
    """Walk the tenant's audit chain against the anchors of earlier runs, then anchor its head anew."""
    from sqlalchemy import select

    from gateway.audit.anchor import append_anchors, check_anchors, make_anchor, parse_anchors
    from gateway.audit.checkpoint import CheckpointSigner, CheckpointVerifier
    from gateway.audit.report import anchors_matching
    from gateway.audit.verify import verify_chain

    certificate = settings.certs_dir / "signing.pem"
    signer = CheckpointSigner.from_files(
        certificate, settings.certs_dir / "signing-key.pem", password=password
    )
    earlier = parse_anchors(anchors.read_bytes(), source=str(anchors)) if anchors.is_file() else []
    verifier = CheckpointVerifier.from_file(certificate)
    with db.session() as session, session.begin():
        tenant = session.scalar(select(Tenant).where(Tenant.slug == settings.tenant))
        assert tenant is not None
        result = verify_chain(session, tenant, checkpoints=verifier)
        result = check_anchors(session, tenant, result, earlier, verifier)
        if result.broken is not None:
            return False, f"chain BROKEN at record {result.broken.seq}: {result.broken.message}"
        anchor = make_anchor(session, tenant, signer, now=dt.datetime.now(dt.UTC))
    append_anchors(anchors, anchor.line())
    matched = f", {anchors_matching(result.anchors, 'earlier ')}" if earlier else ""
    return True, f"chain verified ({result.records} records{matched}); head anchored in {anchors}"


def _pull(settings: Settings, db: Database, password: str | None) -> int:
    from gateway.audit import AuditFilter, ExportFormat, export_records, iter_records
    from gateway.directory import import_communities, parse_directory
    from gateway.initiating import PullRequest, PullService, default_user
    from gateway.initiating.display import console as make_console
    from gateway.initiating.display import summary_table, totals_line
    from gateway.sandbox import SandboxConfig, run_sandbox

    console = make_console()
    folder = DEMO_FOLDER
    config = SandboxConfig(
        gateways=5,
        patients=3,
        seed=DEMO_SEED,
        faults="http500:gw3",
        latency="uniform:40ms-250ms",
        folder=folder / "sandbox",
        certs_dir=settings.certs_dir,
        key_password=password,
    )
    started = time.perf_counter()
    with run_sandbox(config) as sandbox:
        faulty = [g.label for g in sandbox.gateways if not g.healthy]
        _say(
            "sandbox",
            f"{len(sandbox.gateways)} gateways on 127.0.0.1 over mutual TLS ({', '.join(faulty)} faulty), "
            f"directory {sandbox.directory_path}",
            _since(started),
        )
        parsed = parse_directory(sandbox.directory_path.read_bytes())
        with db.session() as session, session.begin():
            imported = import_communities(session, parsed.communities, source=sandbox.directory_path.name)
        _say("directory", f"{len(parsed.communities)} communities imported ({imported.added} new)")
        person = sandbox.patients[0]
        expected = person["expected"]
        _say(
            "patient",
            f"{person['given']} {person['family']}, born {person['birth_date']} (synthetic): expected at "
            f"{len(expected['gateways'])} gateways, {expected['documents']} documents at healthy ones",
        )
        service = PullService.from_settings(settings, db, later_pulls=False)
        request = PullRequest(demographics=_demographics(person), user=default_user(settings))
        summary = asyncio.run(service.pull(request))
    console.print(summary_table(summary))
    print(f"  {totals_line(summary.counters)}")
    folder.mkdir(parents=True, exist_ok=True)
    bundle_path, audit_path = folder / "bundle.json", folder / "audit.ndjson"
    if summary.bundle is not None:
        import orjson

        bundle_path.write_bytes(orjson.dumps(summary.bundle, option=orjson.OPT_INDENT_2))
    with db.session() as session, audit_path.open("wb") as out:
        from sqlalchemy import select

        tenant = session.scalar(select(Tenant).where(Tenant.slug == settings.tenant))
        assert tenant is not None
        written = export_records(
            iter_records(session, tenant, AuditFilter()),
            out,
            ExportFormat.FHIR,
            service.store.audit.source,
        )
    _say("written", f"{bundle_path} (consolidated FHIR Bundle), {audit_path} ({written} AuditEvents)")
    chain_ok, chain = _verify_and_anchor(settings, db, password, folder / "anchors.jsonl")
    _say("audit", chain)
    held = summary.counters.documents_retrieved + summary.counters.documents_reused
    ok = summary.state.value == "done" and held == expected["documents"]
    _say("check", f"{held} of {expected['documents']} reachable documents held: {'OK' if ok else 'MISSING'}")
    return 0 if ok and chain_ok else 1
