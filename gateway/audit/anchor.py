"""Anchors: a tenant's chain head, signed and kept outside the database.

The hash chain shows a record changed, deleted or inserted, unless whoever changed it also recomputed every
later hash and the head, which anyone with write access to the database and this source code can do. An
anchor closes that gap: ``hiegate audit anchor`` signs each tenant's head (its last sequence number and hash,
and when) with the gateway's signing key and prints it as one JSON line, to be kept where the database's
writers cannot reach it (a write-once bucket, the compliance officer's own records). ``hiegate audit verify
--anchors FILE`` then checks, beyond the chain itself, that every anchored record is still there with the
anchored hash: a chain rewritten at or before an anchor, or cut back behind it, no longer matches, and an
anchor for the rewritten chain cannot be made without the signing key.

An anchored record later purged (behind a signed purge checkpoint, :mod:`gateway.audit.retention`) can no
longer be compared, except the checkpoint's last record, whose hash the checkpoint carries; such anchors are
counted as purged, not as failures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit.checkpoint import CheckpointSigner, CheckpointVerifier
from gateway.audit.codec import canonical_json, format_time
from gateway.audit.tables import AuditChainHead, AuditCheckpointRow, AuditEventRow
from gateway.audit.verify import BreakKind, ChainBreak, ChainVerification
from gateway.store.models import Tenant
from xca.errors import AuditAnchorError, PathAccessError, path_problem

__all__ = [
    "ANCHOR_TYPE",
    "Anchor",
    "SignedAnchor",
    "append_anchors",
    "check_anchors",
    "make_anchor",
    "parse_anchors",
]

ANCHOR_TYPE: Final = "hiegate-audit-anchor"
_FIELDS: Final = ("type", "tenant", "seq", "hash", "created_at", "signer_sha256", "signature")


@dataclass(frozen=True, slots=True)
class Anchor:
    """The signed fields: tenant ``tenant``'s chain ended at record ``seq`` with hash ``hash`` (``seq`` 0: no
    records yet) at ``created_at``; ``signer_sha256`` names the certificate of the key that signed it."""

    tenant: str
    seq: int
    hash: str
    created_at: dt.datetime
    signer_sha256: str

    def fields(self) -> dict[str, Any]:
        return {
            "type": ANCHOR_TYPE,
            "tenant": self.tenant,
            "seq": self.seq,
            "hash": self.hash,
            "created_at": format_time(self.created_at),
            "signer_sha256": self.signer_sha256,
        }

    def payload(self) -> bytes:
        """The bytes that are signed: canonical JSON of every field."""
        return canonical_json(self.fields())


@dataclass(frozen=True, slots=True)
class SignedAnchor:
    anchor: Anchor
    signature: str

    def line(self) -> bytes:
        """One JSON line, the form kept and read back."""
        return canonical_json({**self.anchor.fields(), "signature": self.signature}) + b"\n"


def make_anchor(
    session: Session, tenant: Tenant, signer: CheckpointSigner, *, now: dt.datetime
) -> SignedAnchor:
    """Sign ``tenant``'s chain head as it is in ``session``'s transaction."""
    head = session.get(AuditChainHead, tenant.id, populate_existing=True)
    seq, last_hash = (head.last_seq, head.last_hash) if head is not None else (0, "")
    anchor = Anchor(tenant.slug, seq, last_hash, now, signer.fingerprint)
    return SignedAnchor(anchor, signer.sign_payload(anchor.payload()))


def append_anchors(path: Path, lines: bytes) -> None:
    """Append anchor ``lines`` to the file ``path``, on lines of their own even when the file's last line
    lacks its end; a path that cannot be written is :class:`~xca.errors.PathAccessError` naming it."""
    try:
        with path.open("a+b") as out:
            if out.tell() > 0:
                out.seek(-1, 2)
                if out.read(1) != b"\n":
                    lines = b"\n" + lines
            out.write(lines)
    except OSError as exc:
        raise PathAccessError(
            f"anchor file {path}: {path_problem(exc)}", detail={"path": str(path)}
        ) from None


def parse_anchors(data: bytes, *, source: str) -> list[SignedAnchor]:
    """The anchors of an anchor file (JSON lines; blank lines skipped); a line that is not a whole anchor is
    :class:`AuditAnchorError` naming ``source`` and its line number."""
    anchors = []
    for number, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").splitlines(), start=1):
        if not raw.strip():
            continue
        where = {"path": source, "line": number}
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise AuditAnchorError(f"{source}, line {number}: not JSON", detail=where) from None
        if not isinstance(fields, dict) or fields.get("type") != ANCHOR_TYPE:
            raise AuditAnchorError(f"{source}, line {number}: not a hiegate audit anchor", detail=where)
        missing = [name for name in _FIELDS if name not in fields]
        if missing:
            raise AuditAnchorError(
                f"{source}, line {number}: the anchor lacks {', '.join(missing)}", detail=where
            )
        tenant, seq, digest, created, signer, signature = (fields[name] for name in _FIELDS[1:])
        try:
            if not all(isinstance(v, str) for v in (tenant, digest, created, signer, signature)):
                raise ValueError("a text field is not text")
            if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**63:
                raise ValueError("seq is not a record number")
            created_at = dt.datetime.fromisoformat(created)
            if created_at.tzinfo is None:
                raise ValueError("created_at has no offset")
            format_time(created_at)  # in UTC too: an instant at the calendar's edge may not be
        except (ValueError, OverflowError) as exc:
            raise AuditAnchorError(f"{source}, line {number}: {exc}", detail=where) from None
        anchors.append(SignedAnchor(Anchor(tenant, seq, digest, created_at, signer), signature))
    return anchors


def check_anchors(
    session: Session,
    tenant: Tenant,
    result: ChainVerification,
    anchors: Iterable[SignedAnchor],
    verifier: CheckpointVerifier | None,
) -> ChainVerification:
    """``result`` (the chain verified by :func:`gateway.audit.verify.verify_chain`) with ``tenant``'s anchors
    checked: their count, and the first anchor that does not hold as the break. A chain already broken is
    returned as it is."""
    mine = sorted((a for a in anchors if a.anchor.tenant == tenant.slug), key=lambda a: a.anchor.seq)
    if not mine or not result.ok:
        return result
    purged = 0
    for signed in mine:
        anchor = signed.anchor
        if verifier is None or not verifier.is_valid_payload(
            anchor.payload(), signed.signature, signer_sha256=anchor.signer_sha256
        ):
            return _broken(result, anchor.seq, BreakKind.ANCHOR_INVALID, _invalid(verifier))
        if anchor.seq == 0:
            continue  # anchored before the first record: nothing to compare
        purge = session.scalar(
            select(AuditCheckpointRow).where(
                AuditCheckpointRow.tenant_id == tenant.id,
                AuditCheckpointRow.first_seq <= anchor.seq,
                AuditCheckpointRow.last_seq >= anchor.seq,
            )
        )
        if purge is not None and purge.last_seq != anchor.seq:
            purged += 1  # deleted behind a signed checkpoint that carries no hash for it
            continue
        found: str | None
        if purge is not None:
            found = purge.last_hash
        elif result.last_seq is None or anchor.seq > result.last_seq:
            ends = f"ends at record {result.last_seq}" if result.last_seq else "has no records"
            return _broken(
                result,
                anchor.seq,
                BreakKind.ANCHOR_MISMATCH,
                f"anchored record {anchor.seq} is gone: the chain {ends} (cut back or rewritten)",
            )
        else:
            found = session.scalar(
                select(AuditEventRow.hash).where(
                    AuditEventRow.tenant_id == tenant.id, AuditEventRow.seq == anchor.seq
                )
            )
        if found != anchor.hash:
            return _broken(
                result,
                anchor.seq,
                BreakKind.ANCHOR_MISMATCH,
                f"record {anchor.seq} no longer has the hash anchored {format_time(anchor.created_at)}: "
                "the chain was rewritten at or before it",
            )
    return replace(result, anchors=len(mine) - purged, anchors_purged=purged)


def _invalid(verifier: CheckpointVerifier | None) -> str:
    if verifier is None:
        return "anchor cannot be checked: no signing certificate to check it against"
    return "anchor signature is invalid or made by a key whose certificate is not trusted here"


def _broken(result: ChainVerification, seq: int, kind: BreakKind, message: str) -> ChainVerification:
    return replace(result, broken=ChainBreak(seq=seq, kind=kind, message=message))
