"""``hiegate audit ...``: verify, anchor, search, export, disclosures, purge.

Search and export print patient identifiers: they are the audit log's answer to an authorized operator,
written to stdout or a file, never to the application log.

Light at import (the options come from :mod:`gateway.audit.model`); each handler imports what it runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from gateway.audit.model import AuditSource, EventKind, ExportFormat, Outcome, Transaction, parse_job_id
from xca.errors import AuditAnchorError, AuditChainError, AuditCheckpointError, AuditQueryError

if TYPE_CHECKING:
    from cryptography import x509
    from sqlalchemy.orm import Session

    from gateway.audit.anchor import SignedAnchor
    from gateway.audit.checkpoint import CheckpointSigner, CheckpointVerifier
    from gateway.audit.search import AuditFilter
    from gateway.audit.verify import ChainVerification
    from gateway.config import Settings
    from gateway.store import Tenant

__all__ = ["add_audit_commands", "parse_time"]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


_TIME_FORMAT = "a date YYYY-MM-DD or a date-time such as 2026-03-01T09:30:00Z (UTC unless an offset is given)"


def parse_time(text: str) -> dt.datetime:
    """``2026-01-31`` or an ISO 8601 timestamp; without an offset it is UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        # Python names the field of a well-shaped date that does not exist (2026-02-30, 2026-13-01); for text
        # that is no date at all its message only repeats the input.
        why = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
        raise AuditQueryError(
            f"expected {_TIME_FORMAT}, got {text!r}{why}", detail={"field": "time"}
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _time(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except AuditQueryError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None  # argparse prefixes the option's name


def _job_id(text: str) -> str:
    try:
        return parse_job_id(text)
    except AuditQueryError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None  # a usage error, as argparse reports them


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    from gateway.store import Database, require_existing

    # Every audit command reads a log that exists: a mistyped path would otherwise create an empty database
    # and report "no audit records yet" as if the log were clean.
    require_existing(settings.database_url, "audit log")
    db = Database(settings.database_url)
    try:
        # Like every other command on a database: a fresh one gets its schema, not a "no such table".
        db.upgrade()
        with db.session() as session, session.begin():
            yield session
    finally:
        db.dispose()


def _tenant(session: Session, slug: str) -> Tenant:
    from sqlalchemy import select

    from gateway.store import Tenant

    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise AuditQueryError(f"no tenant {slug!r} in this database", detail={"field": "tenant"})
    return tenant


def _source(settings: Settings) -> AuditSource:
    return AuditSource(
        source_id=settings.home_community_id,
        site=settings.organization_name,
        home_community_id=settings.home_community_id,
    )


def _verifier(settings: Settings, signers: Path | None = None) -> CheckpointVerifier | None:
    """The certificates trusted to have signed checkpoints and anchors: the current signing certificate and
    those in ``signers`` (retired ones, kept after a key renewal)."""
    from certs import load_certificates
    from gateway.audit.checkpoint import CheckpointVerifier
    from gateway.config import read_named_file

    trusted: list[x509.Certificate] = []
    certificate = settings.certs_dir / "signing.pem"
    if certificate.is_file():
        trusted += load_certificates(certificate)
    if signers is not None:
        read_named_file(signers, what="signers file")  # HG-1002 naming it when it cannot be read
        trusted += load_certificates(signers)
    return CheckpointVerifier(tuple(trusted)) if trusted else None


def _filter(args: argparse.Namespace) -> AuditFilter:
    from gateway.audit.search import AuditFilter

    return AuditFilter(
        patient=args.patient,
        user=args.user,
        organization=args.organization,
        community=args.community,
        transaction=Transaction(args.transaction) if args.transaction else None,
        kind=EventKind(args.kind) if args.kind else None,
        outcome=Outcome(args.outcome) if args.outcome is not None else None,
        job=args.job,
        since=args.since,
        until=args.until,
    )


def _tenants(session: Session, slug: str | None) -> list[Tenant]:
    """The tenant named, else every tenant with anything in the audit log: records, a chain head or a purge
    checkpoint. A tenant whose head row was deleted is still walked, and the walk reports the missing head."""
    from sqlalchemy import exists, or_, select

    from gateway.audit.tables import AuditChainHead, AuditCheckpointRow, AuditEventRow
    from gateway.store import Tenant

    if slug:
        return [_tenant(session, slug)]
    logged = or_(
        *(
            exists().where(table.tenant_id == Tenant.id)
            for table in (AuditChainHead, AuditEventRow, AuditCheckpointRow)
        )
    )
    return list(session.scalars(select(Tenant).where(logged).order_by(Tenant.slug)))


def _anchors(path: Path) -> list[SignedAnchor]:
    from gateway.audit.anchor import parse_anchors
    from gateway.config import read_named_file

    anchors = parse_anchors(read_named_file(path, what="anchor file"), source=str(path))
    if not anchors:  # emptied by a `>` instead of `>>`, a rotation, the wrong path: not a check passed
        raise AuditAnchorError(f"anchor file {path} holds no anchors", detail={"path": str(path)})
    return anchors


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit import report
    from gateway.audit.anchor import check_anchors
    from gateway.audit.verify import verify_chain

    # Read and checked before anything is verified: a bad file or a missing certificate is an error, not a
    # check quietly skipped nor a chain reported broken.
    anchors: list[SignedAnchor] = _anchors(args.anchors) if args.anchors is not None else []
    verifier = _verifier(settings, args.signers)
    if anchors and verifier is None:
        raise AuditAnchorError(
            f"anchors are checked against the signing certificate {settings.certs_dir / 'signing.pem'}, "
            "which is missing: set certs_dir, or give the certificate with --signers",
            detail={"path": str(settings.certs_dir / "signing.pem")},
        )
    with _session(settings) as session:
        tenants = _tenants(session, args.tenant)
        if anchors and not args.tenant:
            # A tenant whose records, head and checkpoints are all gone is no longer among those with
            # records: the anchors name it, so it is verified too; a name this database lacks is an error.
            every = {t.slug: t for t in _all_tenants(session)}
            anchored = {a.anchor.tenant for a in anchors}
            unknown = sorted(anchored - every.keys())
            if unknown:
                raise AuditAnchorError(
                    f"anchor file {args.anchors}: anchors tenants this database does not have: "
                    f"{', '.join(unknown)}",
                    detail={"path": str(args.anchors)},
                )
            listed = {t.slug for t in tenants}
            tenants += [every[slug] for slug in sorted(anchored - listed)]
        broken = []
        for tenant in tenants:
            started = time.perf_counter()
            result = verify_chain(session, tenant, checkpoints=verifier)
            walked = time.perf_counter() - started
            if anchors:
                result = check_anchors(session, tenant, result, anchors, verifier)
            print(report.verification_line(result, walked, anchored=bool(anchors)))
            if not result.ok:
                broken.append(result)
    if not tenants:
        print("no audit records yet")
    _raise_first(broken)
    return 0


def _raise_first(broken: list[ChainVerification]) -> None:
    if broken:
        first = broken[0]
        assert first.broken is not None
        raise AuditChainError(
            f"audit chain of tenant {first.tenant} broken at record {first.broken.seq} ({first.broken.kind})",
            detail={"tenant": first.tenant, "seq": first.broken.seq, "kind": first.broken.kind.value},
        )


def _all_tenants(session: Session) -> list[Tenant]:
    from sqlalchemy import select

    from gateway.store import Tenant

    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def _signer(settings: Settings, why: str) -> CheckpointSigner:
    from gateway.audit.checkpoint import CheckpointSigner

    certificate, key = settings.certs_dir / "signing.pem", settings.certs_dir / "signing-key.pem"
    if not (certificate.is_file() and key.is_file()):
        raise AuditCheckpointError(
            f"{why} with {certificate}: run `hiegate certs init` or set certs_dir",
            detail={"path": str(certificate)},
        )
    password = settings.key_password.get_secret_value() if settings.key_password else None
    return CheckpointSigner.from_files(certificate, key, password=password)


def _anchor(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit import report
    from gateway.audit.anchor import append_anchors, make_anchor
    from gateway.audit.checkpoint import CheckpointVerifier
    from gateway.audit.verify import verify_chain

    try:
        signer = _signer(settings, "an anchor is signed")
    except AuditCheckpointError as exc:
        raise AuditAnchorError(exc.message, detail=exc.detail) from None
    known = _verifier(settings, args.signers)
    verifier = CheckpointVerifier((signer.certificate,)) if known is None else known
    now = dt.datetime.now(dt.UTC)
    with _session(settings) as session:
        tenants = _tenants(session, args.tenant)
        # An anchor vouches for the chain it signs: each chain is walked first, and none is anchored while any
        # is broken (anchoring a rewritten chain would endorse the rewrite).
        results = [verify_chain(session, tenant, checkpoints=verifier) for tenant in tenants]
        broken = [r for r in results if not r.ok]
        for result in broken:
            print(report.verification_line(result, 0.0), file=sys.stderr)
        _raise_first(broken)
        lines = [make_anchor(session, t, signer, now=now).line() for t in tenants]
    if not lines:
        print("no audit records yet: nothing to anchor", file=sys.stderr)
        return 0
    if args.append is None:
        sys.stdout.buffer.write(b"".join(lines))
        sys.stdout.buffer.flush()
    else:
        append_anchors(args.append, b"".join(lines))
        print(
            f"{len(lines)} anchor{'' if len(lines) == 1 else 's'} appended to {args.append}", file=sys.stderr
        )
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit import report
    from gateway.audit.search import search

    with _session(settings) as session:
        tenant = _tenant(session, args.tenant or settings.tenant)
        page = search(session, tenant, _filter(args), limit=args.limit, cursor=args.cursor)
    report.print_page(page, as_json=args.json)
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit.export import export_records
    from gateway.audit.search import iter_records

    export_format = ExportFormat(args.format)
    with _session(settings) as session:
        tenant = _tenant(session, args.tenant or settings.tenant)
        records = iter_records(session, tenant, _filter(args))
        if args.out is None:
            # A reader that went away (`... | head`) raises BrokenPipeError here: gateway.cli.main ends the
            # command quietly with 141, as for every other command that prints.
            count = export_records(records, sys.stdout.buffer, export_format, _source(settings))
            sys.stdout.buffer.flush()
        else:
            with Path(args.out).open("wb") as out:
                count = export_records(records, out, export_format, _source(settings))
    print(f"exported {count} audit records as {export_format.value}", file=sys.stderr)
    return 0


def _disclosures(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit import report
    from gateway.audit.disclosures import accounting_of_disclosures

    with _session(settings) as session:
        tenant = _tenant(session, args.tenant or settings.tenant)
        found = accounting_of_disclosures(session, tenant, args.patient, since=args.since, until=args.until)
    report.print_disclosures(args.patient, found, as_json=args.json)
    return 0


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.audit import report
    from gateway.audit.retention import check_cutoff, latest_cutoff, purge_before

    now = dt.datetime.now(dt.UTC)
    before = args.before or latest_cutoff(now, settings.audit_retention_days)
    # First of all: a cut-off in the future or inside the retention period is refused, nothing deleted.
    check_cutoff(before, now=now, retention_days=settings.audit_retention_days)
    signer = _signer(settings, "purge signs a checkpoint")
    with _session(settings) as session:
        tenant = _tenant(session, args.tenant or settings.tenant)
        result = purge_before(
            session,
            tenant,
            before=before,
            signer=signer,
            verifier=_verifier(settings),
            now=now,
            retention_days=settings.audit_retention_days,
        )
    print(report.purge_line(result, before))
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", help="tenant slug (default: the tenant setting)")
    parser.add_argument("--patient", help="patient identifier: VALUE or AUTHORITY_OID|VALUE")
    parser.add_argument("--user", help="requesting user id (SAML NameID)")
    parser.add_argument("--organization", help="requesting organization OID")
    parser.add_argument("--community", help="remote homeCommunityId")
    parser.add_argument("--transaction", choices=[t.value for t in Transaction])
    parser.add_argument("--kind", choices=[k.value for k in EventKind])
    parser.add_argument("--outcome", type=int, choices=[int(o) for o in Outcome])
    parser.add_argument(
        "--job", type=_job_id, metavar="JOB_ID", help="pull job id: its exchanges and its own pull records"
    )
    parser.add_argument("--since", type=_time, help="from this time (inclusive), e.g. 2026-01-01")
    parser.add_argument("--until", type=_time, help="up to this time (exclusive)")


def _command(
    sub: Commands, name: str, text: str, handler: Callable[[argparse.Namespace, Settings], int]
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text)
    parser.set_defaults(handler=handler)
    return parser


def add_audit_commands(commands: Commands) -> None:
    """Register ``hiegate audit`` and its actions on the main parser's sub-commands."""
    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    sub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = _command(sub, "verify", "re-hash every audit chain and report the first break", _verify)
    verify.add_argument("--tenant", help="only this tenant (default: every tenant with records)")
    verify.add_argument(
        "--anchors",
        type=Path,
        metavar="FILE",
        help="also check the anchors in FILE (`hiegate audit anchor`): each anchored record must still be "
        "there with the anchored hash",
    )
    anchor = _command(
        sub, "anchor", "sign each tenant's chain head, to keep outside the database (JSON lines)", _anchor
    )
    anchor.add_argument("--tenant", help="only this tenant (default: every tenant with records)")
    for parser in (verify, anchor):
        parser.add_argument(
            "--signers",
            type=Path,
            metavar="FILE",
            help="PEM certificates also trusted to have signed anchors and checkpoints (retired signing "
            "certificates, kept after a key renewal)",
        )
    anchor.add_argument(
        "--append", type=Path, metavar="FILE", help="append the anchors to FILE (default: stdout)"
    )
    found = _command(sub, "search", "find audit records, newest first", _search)
    _add_filters(found)
    found.add_argument("--limit", type=int, default=50, help="records per page (1-1000)")
    found.add_argument("--cursor", help="the next-page cursor printed by the previous page")
    found.add_argument("--json", action="store_true", help="print JSON")
    export = _command(sub, "export", "write matching records as FHIR NDJSON, ATNA XML or CSV", _export)
    _add_filters(export)
    export.add_argument("--format", required=True, choices=[f.value for f in ExportFormat])
    export.add_argument("--out", type=Path, help="output file (default: stdout)")
    disclosures = _command(sub, "disclosures", "accounting of disclosures for one patient", _disclosures)
    disclosures.add_argument("--tenant", help="tenant slug (default: the tenant setting)")
    disclosures.add_argument("--patient", required=True, help="VALUE or AUTHORITY_OID|VALUE")
    disclosures.add_argument("--since", type=_time)
    disclosures.add_argument("--until", type=_time)
    disclosures.add_argument("--json", action="store_true", help="print JSON")
    purge = _command(sub, "purge", "delete records older than a date behind a signed checkpoint", _purge)
    purge.add_argument("--tenant", help="tenant slug (default: the tenant setting)")
    purge.add_argument(
        "--before",
        type=_time,
        help="purge records recorded before this; at the latest now minus audit_retention_days (the default)",
    )
