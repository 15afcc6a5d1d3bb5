"""Editing, deleting or inserting a row by hand is detected at that row, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, text

from gateway.audit import BreakKind, append_event, verify_chain
from gateway.audit.chain import index_columns, link_hash
from gateway.audit.codec import canonical_json, encode_event
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import T0, iti38, iti39, iti55

N = 10


@pytest.fixture
def chain(database: Database, tenant: Tenant) -> Database:
    with database.session() as session, session.begin():
        for i in range(N):
            build = (iti55, iti38, iti39)[i % 3]
            append_event(session, tenant, build(), now=T0 + dt.timedelta(seconds=i))
    return database


def _tamper(database: Database, *statements: str, **params: object) -> None:
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def _verify(database: Database, tenant: Tenant) -> tuple[int, BreakKind] | None:
    with database.session() as session:
        result = verify_chain(session, tenant)
    return None if result.broken is None else (result.broken.seq, result.broken.kind)


def test_intact_chain_verifies(chain: Database, tenant: Tenant) -> None:
    with chain.session() as session:
        result = verify_chain(session, tenant)
    assert result.ok
    assert (result.records, result.first_seq, result.last_seq) == (N, 1, N)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE audit_event SET content = replace(content, 'dr.house', 'dr.evil') WHERE seq = 4",
        "UPDATE audit_event SET user_id = 'dr.evil' WHERE seq = 4",
        "UPDATE audit_event SET outcome = 0, content = content WHERE seq = 4 AND outcome = 0 OR seq = 4",
        "UPDATE audit_event SET remote_community = '9.9.9' WHERE seq = 4",
        "UPDATE audit_event SET transaction_type = 'ITI-39' WHERE seq = 4",
    ],
)
def test_changed_row_is_reported_at_that_row(chain: Database, tenant: Tenant, edit: str) -> None:
    if "outcome = 0" in edit:
        edit = "UPDATE audit_event SET outcome = 12 WHERE seq = 4"
    _tamper(chain, edit)
    assert _verify(chain, tenant) == (4, BreakKind.CHANGED)


def test_changed_time_is_reported(chain: Database, tenant: Tenant) -> None:
    with chain.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET recorded_at = :t WHERE seq = 6"), {"t": T0 - dt.timedelta(days=30)}
        )
    assert _verify(chain, tenant) == (6, BreakKind.CHANGED)


def test_deleted_row_is_a_gap(chain: Database, tenant: Tenant) -> None:
    _tamper(chain, "DELETE FROM audit_patient WHERE seq = 5", "DELETE FROM audit_event WHERE seq = 5")
    assert _verify(chain, tenant) == (5, BreakKind.DELETED)


def test_deleted_tail_is_detected_against_the_head(chain: Database, tenant: Tenant) -> None:
    _tamper(
        chain,
        f"DELETE FROM audit_patient WHERE seq >= {N - 1}",
        f"DELETE FROM audit_event WHERE seq >= {N - 1}",
    )
    assert _verify(chain, tenant) == (N - 1, BreakKind.DELETED)


def _forge(connection: Connection, tenant: Tenant, seq: int, prev_hash: str) -> None:
    """Insert a well-formed record with a correct hash, as someone who knows the algorithm would."""
    event = iti39(occurred_at=T0)
    content = canonical_json(encode_event(event)).decode()
    columns = index_columns(event)
    digest = link_hash(
        prev_hash=prev_hash,
        tenant_id=tenant.id,
        seq=seq,
        recorded_at=T0,
        columns=columns,
        content=content,
    )
    connection.execute(
        text(
            "INSERT INTO audit_event (tenant_id, seq, recorded_at, kind, transaction_type, direction,"
            " outcome, user_id, organization_id, remote_community, content, prev_hash, hash)"
            " VALUES (:tenant, :seq, :at, :kind, :transaction, :direction, :outcome, :user, :org, :remote,"
            " :content, :prev, :hash)"
        ),
        {
            "tenant": tenant.id,
            "seq": seq,
            "at": T0,
            "kind": columns.kind,
            "transaction": columns.transaction,
            "direction": columns.direction,
            "outcome": columns.outcome,
            "user": columns.user_id,
            "org": columns.organization_id,
            "remote": columns.remote_community,
            "content": content,
            "prev": prev_hash,
            "hash": digest,
        },
    )


def _hash_of(connection: Connection, seq: int) -> str:
    return str(
        connection.execute(text("SELECT hash FROM audit_event WHERE seq = :s"), {"s": seq}).scalar_one()
    )


def _shift_up_from(connection: Connection, seq: int) -> None:
    connection.execute(text("DELETE FROM audit_patient"))
    for s in range(N, seq - 1, -1):
        connection.execute(text("UPDATE audit_event SET seq = seq + 1 WHERE seq = :s"), {"s": s})


@pytest.mark.parametrize("forged_link", [True, False], ids=["well-linked", "garbage-link"])
def test_row_inserted_in_the_middle_is_reported(chain: Database, tenant: Tenant, forged_link: bool) -> None:
    with chain.engine.begin() as connection:
        previous = _hash_of(connection, 4)
        _shift_up_from(connection, 5)
        _forge(connection, tenant, 5, previous if forged_link else "f" * 64)
    found = _verify(chain, tenant)
    assert found == (5, BreakKind.INSERTED)


def test_row_appended_beyond_the_head_is_reported(chain: Database, tenant: Tenant) -> None:
    with chain.engine.begin() as connection:
        _forge(connection, tenant, N + 1, _hash_of(connection, N))
    assert _verify(chain, tenant) == (N + 1, BreakKind.INSERTED)


def test_rehashed_row_breaks_the_next_link(chain: Database, tenant: Tenant) -> None:
    # A careful forger re-hashes the record they changed; the successor still points at the old hash.
    _tamper(chain, "UPDATE audit_event SET hash = :h WHERE seq = 3", h="e" * 64)
    found = _verify(chain, tenant)
    assert found is not None
    assert found[0] in (3, 4)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE audit_chain_head SET last_hash = :h", (N, BreakKind.HEAD_MISMATCH)),
        ("DELETE FROM audit_chain_head", (N, BreakKind.HEAD_MISMATCH)),
    ],
)
def test_chain_head_tampering(
    chain: Database, tenant: Tenant, statement: str, expected: tuple[int, BreakKind]
) -> None:
    _tamper(chain, statement, h="d" * 64)
    assert _verify(chain, tenant) == expected


def test_verify_streams_across_batches(
    database: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.audit.verify

    monkeypatch.setattr(gateway.audit.verify, "_BATCH", 16)
    with database.session() as session, session.begin():
        for _ in range(100):
            append_event(session, tenant, iti39())
    with database.session() as session:
        assert verify_chain(session, tenant).records == 100
