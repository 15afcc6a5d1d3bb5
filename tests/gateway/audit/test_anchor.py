"""Anchors close what the hash chain alone leaves open: someone with write access to the database rewriting
the chain consistently (every later hash and the head recomputed) or cutting its tail back. `hiegate audit
anchor` signs the heads; `hiegate audit verify --anchors FILE` holds the chain to them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from certs import init_dev_pki
from gateway.audit import append_event
from gateway.audit.anchor import check_anchors, make_anchor
from gateway.audit.checkpoint import CheckpointSigner, CheckpointVerifier
from gateway.audit.verify import BreakKind, verify_chain
from gateway.cli import main
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant
from tests.gateway.audit.factories import FAMILY_NAME, LOCAL_MRN, T0, every_path, iti55, requestor

TOTAL = len(every_path())


def _rewrite_from(db: Database, seq: int, replacements: int = 2) -> None:
    """What someone with write access and this source code can do: drop records from ``seq`` on, set the head
    back and append other records through the audit log's own code, so the chain is consistent again."""
    with db.engine.begin() as connection:
        kept = connection.execute(
            text("SELECT hash FROM audit_event WHERE seq = :seq"), {"seq": seq - 1}
        ).scalar_one()
        connection.execute(text("DELETE FROM audit_event WHERE seq >= :seq"), {"seq": seq})
        connection.execute(
            text("UPDATE audit_chain_head SET last_seq = :seq, last_hash = :hash"),
            {"seq": seq - 1, "hash": kept},
        )
    with db.session() as session, session.begin():
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "clinic")).one()
        for n in range(replacements):
            event = iti55(requestor=requestor(user_id=f"someone-else-{n}"))
            append_event(session, tenant, event, now=T0 + dt.timedelta(days=1, hours=n))


def _anchor(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["audit", "anchor", "--append", str(path)]) == 0
    assert capsys.readouterr().err.strip() == f"1 anchor appended to {path}"
    lines = path.read_text().splitlines()
    return dict(json.loads(lines[-1]))


def test_an_anchor_is_the_signed_head_and_the_chain_verifies_against_it(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    anchor = _anchor(anchors, capsys)
    assert anchor["tenant"] == "clinic"
    assert anchor["seq"] == TOTAL
    assert set(anchor) == {"type", "tenant", "seq", "hash", "created_at", "signer_sha256", "signature"}
    # No PHI in a file meant to leave the database: the head's number and hash only.
    assert LOCAL_MRN not in anchors.read_text()
    assert FAMILY_NAME not in anchors.read_text()

    assert main(["audit", "verify", "--anchors", str(anchors)]) == 0
    assert f"OK, {TOTAL} records (seq 1..{TOTAL}), 1 anchor matches" in capsys.readouterr().out

    # Records appended after the anchor are fine; a second anchor goes into the same file.
    with env.session() as session, session.begin():
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "clinic")).one()
        append_event(session, tenant, iti55(), now=T0 + dt.timedelta(days=2))
    assert _anchor(anchors, capsys)["seq"] == TOTAL + 1
    assert len(anchors.read_text().splitlines()) == 2
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 0
    assert "2 anchors match" in capsys.readouterr().out


def test_a_consistent_rewrite_passes_the_chain_but_not_its_anchor(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    _anchor(anchors, capsys)
    _rewrite_from(env, TOTAL - 2, replacements=4)  # the tail replaced, the chain longer than before

    assert main(["audit", "verify"]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    captured = capsys.readouterr()
    assert f"BROKEN at record {TOTAL}: anchor-mismatch: record {TOTAL} no longer has the hash anchored" in (
        captured.out
    )
    assert f"broken at record {TOTAL} (anchor-mismatch)" in captured.err


def test_a_tail_cut_back_with_its_head_is_found(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    _anchor(anchors, capsys)
    _rewrite_from(env, TOTAL - 2, replacements=0)

    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    out = capsys.readouterr().out
    assert f"anchored record {TOTAL} is gone: the chain ends at record {TOTAL - 3}" in out


def test_an_edited_anchor_is_refused(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    anchor = _anchor(anchors, capsys)
    _rewrite_from(env, TOTAL - 2)
    with env.engine.connect() as connection:
        new_head = connection.execute(text("SELECT last_seq, last_hash FROM audit_chain_head")).one()
    # Whoever rewrote the chain edits the anchor to match it: without the key the signature no longer holds.
    anchor.update(seq=new_head.last_seq, hash=new_head.last_hash)
    anchors.write_text(json.dumps(anchor) + "\n")

    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    assert "anchor-invalid: anchor signature is invalid" in capsys.readouterr().out


def test_anchors_on_purged_records_are_counted_apart(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    _anchor(anchors, capsys)
    monkeypatch.setenv("HIEGATE_AUDIT_RETENTION_DAYS", "1")  # the records are from T0, more than a day ago
    assert main(["audit", "purge", "--before", (T0 + dt.timedelta(days=1)).isoformat()]) == 0
    capsys.readouterr()
    # Every record purged: the purge checkpoint carries the anchored record's hash, so it is still compared.
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 0
    assert "1 anchor matches" in capsys.readouterr().out


def test_bad_anchor_files_are_errors_before_anything_is_checked(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    cases = {
        "{not json\n": f"hiegate: HG-8006: {bad}, line 1: not JSON",
        '{"type": "something-else"}\n': f"hiegate: HG-8006: {bad}, line 1: not a hiegate audit anchor",
        '\n{"type": "hiegate-audit-anchor", "tenant": "clinic"}\n': (
            f"hiegate: HG-8006: {bad}, line 2: "
            "the anchor lacks seq, hash, created_at, signer_sha256, signature"
        ),
    }
    for content, message in cases.items():
        bad.write_text(content)
        assert main(["audit", "verify", "--anchors", str(bad)]) == 1
        captured = capsys.readouterr()
        assert captured.err.strip() == message
        assert "OK" not in captured.out
    assert main(["audit", "verify", "--anchors", str(tmp_path / "missing.jsonl")]) == 2  # a path problem
    assert capsys.readouterr().err.startswith(f"hiegate: HG-1002: anchor file {tmp_path / 'missing.jsonl'}")

    anchors = tmp_path / "anchors.jsonl"
    anchor = _anchor(anchors, capsys)
    anchors.write_text(json.dumps({**anchor, "tenant": "elsewhere"}) + "\n")
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    assert "anchors tenants this database does not have: elsewhere" in capsys.readouterr().err


def test_anchoring_needs_the_signing_key(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIEGATE_CERTS_DIR", str(tmp_path / "no-certs"))
    assert main(["audit", "anchor"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-8006: an anchor is signed with ")
    assert "run `hiegate certs init`" in err


def test_check_anchors_on_the_database(database: Database, tenant: Tenant, dev_pki: Path) -> None:
    """The anchor check's queries on both databases (SQLite, and PostgreSQL when configured)."""
    signer = CheckpointSigner.from_files(dev_pki / "signing.pem", dev_pki / "signing-key.pem")
    verifier = CheckpointVerifier.from_file(dev_pki / "signing.pem")
    now = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    with database.session() as session, session.begin():
        empty = make_anchor(session, tenant, signer, now=now)  # before the first record
        for hour, event in enumerate(every_path().values()):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
        full = make_anchor(session, tenant, signer, now=now)
    assert (empty.anchor.seq, full.anchor.seq) == (0, TOTAL)
    with database.session() as session, session.begin():
        result = check_anchors(session, tenant, verify_chain(session, tenant), [empty, full], verifier)
    assert result.ok
    assert result.anchors == 2
    with database.session() as session, session.begin():
        session.execute(
            text("UPDATE audit_chain_head SET last_seq = :seq WHERE tenant_id = :tenant"),
            {"seq": TOTAL - 1, "tenant": tenant.id},
        )
        session.execute(
            text(
                "UPDATE audit_chain_head SET last_hash = (SELECT hash FROM audit_event WHERE seq = :seq "
                "AND tenant_id = :tenant) WHERE tenant_id = :tenant"
            ),
            {"seq": TOTAL - 1, "tenant": tenant.id},
        )
        session.execute(
            text("DELETE FROM audit_event WHERE seq = :seq AND tenant_id = :tenant"),
            {"seq": TOTAL, "tenant": tenant.id},
        )
    with database.session() as session, session.begin():
        result = check_anchors(session, tenant, verify_chain(session, tenant), [empty, full], verifier)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind) == (TOTAL, BreakKind.ANCHOR_MISMATCH)


def test_an_anchor_inside_a_purged_range_is_counted_as_purged(
    database: Database, tenant: Tenant, dev_pki: Path
) -> None:
    from gateway.audit.retention import purge_before

    signer = CheckpointSigner.from_files(dev_pki / "signing.pem", dev_pki / "signing-key.pem")
    verifier = CheckpointVerifier.from_file(dev_pki / "signing.pem")
    now = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    anchors = []
    with database.session() as session, session.begin():
        for hour, event in enumerate(every_path().values()):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
            if hour in (2, 4, TOTAL - 1):  # heads at records 3, 5 and the last
                anchors.append(make_anchor(session, tenant, signer, now=now))
    with database.session() as session, session.begin():
        purge_before(
            session, tenant, before=T0 + dt.timedelta(hours=5), signer=signer, verifier=verifier, now=now,
            retention_days=1,
        )  # fmt: skip
    with database.session() as session, session.begin():
        result = check_anchors(
            session, tenant, verify_chain(session, tenant, checkpoints=verifier), anchors, verifier
        )
    # Record 3 is gone behind the signed checkpoint; record 5 is its last, whose hash it carries.
    assert (result.ok, result.checkpoints, result.anchors, result.anchors_purged) == (True, 1, 2, 1)


def test_a_tenant_whose_head_row_was_deleted_is_still_walked_and_not_anchored(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with env.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_chain_head"))
    assert main(["audit", "verify"]) == 1
    assert f"tenant clinic: BROKEN at record {TOTAL}: head-mismatch: the chain head is missing" in (
        capsys.readouterr().out
    )
    # An anchor vouches for the chain it signs: a broken chain is not anchored.
    anchors = tmp_path / "anchors.jsonl"
    assert main(["audit", "anchor", "--append", str(anchors)]) == 1
    captured = capsys.readouterr()
    assert "tenant clinic: BROKEN" in captured.err
    assert "HG-8003" in captured.err
    assert not anchors.exists()


def test_an_empty_anchor_file_or_a_tenant_without_anchor_is_not_a_silent_ok(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert main(["audit", "verify", "--anchors", str(empty)]) == 1
    assert capsys.readouterr().err.strip() == f"hiegate: HG-8006: anchor file {empty} holds no anchors"
    anchors = tmp_path / "anchors.jsonl"
    _anchor(anchors, capsys)
    with env.session() as session, session.begin():
        other = ensure_tenant(session, "other", "Other")
        append_event(session, other, iti55(), now=T0)
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 0
    out = capsys.readouterr().out
    assert "tenant other: OK, 1 records (seq 1..1), no anchor for this tenant in the file" in out
    assert "tenant clinic: OK" in out


def test_anchors_need_the_signing_certificate_and_trust_retired_ones_when_given(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    dev_pki: Path,
) -> None:  # fmt: skip
    anchors = tmp_path / "anchors.jsonl"
    _anchor(anchors, capsys)
    renewed = tmp_path / "renewed"
    init_dev_pki(renewed)  # a new signing key: the old anchors' certificate is retired
    monkeypatch.setenv("HIEGATE_CERTS_DIR", str(renewed))
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    assert "anchor-invalid" in capsys.readouterr().out
    retired = dev_pki / "signing.pem"
    assert main(["audit", "verify", "--anchors", str(anchors), "--signers", str(retired)]) == 0
    assert "1 anchor matches" in capsys.readouterr().out
    # Without any signing certificate the anchors cannot be checked: a configuration error, not a break.
    monkeypatch.setenv("HIEGATE_CERTS_DIR", str(tmp_path / "none"))
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("hiegate: HG-8006: anchors are checked against the signing certificate")
    assert captured.out == ""


def test_odd_anchor_files_are_read_or_refused_cleanly(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    line = _anchor(anchors, capsys)
    # A last line without its newline: the next anchor still goes on a line of its own.
    anchors.write_text(anchors.read_text().rstrip("\n"))
    _anchor(anchors, capsys)
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 0
    assert "2 anchors match" in capsys.readouterr().out
    # A byte-order mark, as some editors write it.
    anchors.write_bytes(b"\xef\xbb\xbf" + anchors.read_bytes())
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 0
    capsys.readouterr()
    # An instant at the calendar's edge is a bad line, not a crash.
    anchors.write_text(json.dumps({**line, "created_at": "9999-12-31T23:59:59-23:59"}) + "\n")
    assert main(["audit", "verify", "--anchors", str(anchors)]) == 1
    assert capsys.readouterr().err.startswith(f"hiegate: HG-8006: {anchors}, line 1: ")
