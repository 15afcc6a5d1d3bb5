"""Purge keeps the chain verifiable from a signed checkpoint; tampering with the checkpoint is detected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from gateway.audit import (
    BreakKind,
    CheckpointSigner,
    CheckpointVerifier,
    append_event,
    purge_before,
    verify_chain,
)
from gateway.audit.retention import check_cutoff
from gateway.audit.tables import AuditCheckpointRow, AuditEventRow, AuditPatientRow
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import T0, iti38
from xca.errors import AuditChainError, AuditCheckpointError, AuditRetentionError


@pytest.fixture
def signer(dev_pki: Path) -> CheckpointSigner:
    return CheckpointSigner.from_files(dev_pki / "signing.pem", dev_pki / "signing-key.pem")


@pytest.fixture
def verifier(dev_pki: Path) -> CheckpointVerifier:
    return CheckpointVerifier.from_file(dev_pki / "signing.pem")


@pytest.fixture
def days(database: Database, tenant: Tenant) -> Database:
    """Ten records, one per day from T0."""
    with database.session() as session, session.begin():
        for day in range(10):
            append_event(session, tenant, iti38(), now=T0 + dt.timedelta(days=day))
    return database


def _purge(db: Database, tenant: Tenant, signer: CheckpointSigner, day: int) -> int:
    with db.session() as session, session.begin():
        return purge_before(session, tenant, before=T0 + dt.timedelta(days=day), signer=signer).purged


def _verify(
    db: Database, tenant: Tenant, verifier: CheckpointVerifier | None
) -> tuple[int, BreakKind] | None:
    with db.session() as session:
        result = verify_chain(session, tenant, checkpoints=verifier)
    return None if result.ok else (result.broken.seq, result.broken.kind)  # type: ignore[union-attr]


def test_purge_leaves_a_verifiable_chain(
    days: Database, tenant: Tenant, signer: CheckpointSigner, verifier: CheckpointVerifier
) -> None:
    assert _purge(days, tenant, signer, 4) == 4
    assert _purge(days, tenant, signer, 4) == 0  # idempotent
    assert _purge(days, tenant, signer, 7) == 3  # a second checkpoint continues the first
    with days.session() as session:
        result = verify_chain(session, tenant, checkpoints=verifier)
        assert result.ok
        assert (result.first_seq, result.last_seq, result.checkpoints) == (8, 10, 2)
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == 3
        assert session.scalar(select(func.min(AuditPatientRow.seq))) == 8
    with days.session() as session, session.begin():
        assert append_event(session, tenant, iti38()).seq == 11
    assert _verify(days, tenant, verifier) is None


def test_verify_needs_the_signing_certificate_after_a_purge(
    days: Database, tenant: Tenant, signer: CheckpointSigner
) -> None:
    _purge(days, tenant, signer, 3)
    with days.session() as session, pytest.raises(AuditCheckpointError):
        verify_chain(session, tenant)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE audit_checkpoint SET last_hash = 'aaaa' || substr(last_hash, 5)",
        "UPDATE audit_checkpoint SET last_seq = last_seq + 1",
        "UPDATE audit_checkpoint SET record_count = 1",
        "UPDATE audit_checkpoint SET signature = 'AAAA'",
    ],
)
def test_tampered_checkpoint_is_detected(
    days: Database, tenant: Tenant, signer: CheckpointSigner, verifier: CheckpointVerifier, edit: str
) -> None:
    _purge(days, tenant, signer, 4)
    with days.engine.begin() as connection:
        connection.execute(text(edit))
    assert _verify(days, tenant, verifier) == (1, BreakKind.CHECKPOINT_INVALID)


def test_checkpoint_signed_by_another_key_is_rejected(
    days: Database, tenant: Tenant, signer: CheckpointSigner, tmp_path: Path
) -> None:
    from certs import init_dev_pki

    init_dev_pki(tmp_path / "other")
    _purge(
        days,
        tenant,
        CheckpointSigner.from_files(
            tmp_path / "other" / "signing.pem", tmp_path / "other" / "signing-key.pem"
        ),
        4,
    )
    assert _verify(days, tenant, CheckpointVerifier((signer.certificate,))) == (
        1,
        BreakKind.CHECKPOINT_INVALID,
    )


def test_deleting_the_checkpoint_shows_the_purged_records_missing(
    days: Database, tenant: Tenant, signer: CheckpointSigner, verifier: CheckpointVerifier
) -> None:
    _purge(days, tenant, signer, 4)
    with days.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_checkpoint"))
    assert _verify(days, tenant, verifier) == (1, BreakKind.DELETED)


def test_purge_refuses_to_sign_over_tampered_records(
    days: Database, tenant: Tenant, signer: CheckpointSigner
) -> None:
    with days.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET user_id = 'someone' WHERE seq = 2"))
    with days.session() as session, session.begin(), pytest.raises(AuditChainError):
        purge_before(session, tenant, before=T0 + dt.timedelta(days=5), signer=signer)
    with days.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditCheckpointRow)) == 0


def _counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        events = session.scalar(select(func.count()).select_from(AuditEventRow))
        checkpoints = session.scalar(select(func.count()).select_from(AuditCheckpointRow))
    return events or 0, checkpoints or 0


@pytest.mark.parametrize(
    ("before_day", "retention_days"),
    [(30, None), (30, 1000), (5, 20)],  # after now (T0 + 10 days); after now minus the retention period
)
def test_purge_refuses_a_cutoff_in_the_future_or_inside_retention(
    days: Database, tenant: Tenant, signer: CheckpointSigner, before_day: int, retention_days: int | None
) -> None:
    now = T0 + dt.timedelta(days=10)
    with days.session() as session, session.begin(), pytest.raises(AuditRetentionError) as refused:
        purge_before(
            session,
            tenant,
            before=T0 + dt.timedelta(days=before_day),
            signer=signer,
            now=now,
            retention_days=retention_days,
        )
    assert refused.value.code == "HG-8005"
    assert "nothing was deleted" in refused.value.message
    assert _counts(days) == (10, 0)


def test_purge_keeps_its_behaviour_for_a_cutoff_the_retention_allows(
    days: Database, tenant: Tenant, signer: CheckpointSigner, verifier: CheckpointVerifier
) -> None:
    now = T0 + dt.timedelta(days=10)
    with days.session() as session, session.begin():
        result = purge_before(
            session, tenant, before=T0 + dt.timedelta(days=4), signer=signer, now=now, retention_days=6
        )
    assert (result.purged, result.first_seq, result.last_seq) == (4, 1, 4)
    assert _counts(days) == (6, 1)
    assert _verify(days, tenant, verifier) is None


def test_the_latest_allowed_cutoff_is_now_minus_the_retention_period() -> None:
    now = T0 + dt.timedelta(days=10)
    check_cutoff(T0 + dt.timedelta(days=4), now=now, retention_days=6)  # exactly the boundary: allowed
    with pytest.raises(AuditRetentionError, match=r"must be 2026-03-05T12:00:00Z or earlier"):
        check_cutoff(T0 + dt.timedelta(days=4, seconds=1), now=now, retention_days=6)
    check_cutoff(now, now=now, retention_days=None)  # no retention given: only the future is refused
    with pytest.raises(AuditRetentionError, match="in the future"):
        check_cutoff(now + dt.timedelta(seconds=1), now=now, retention_days=None)
