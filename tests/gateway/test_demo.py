"""`hiegate demo` pulls a sandbox patient end to end on a fresh folder; a second run stores nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.cli import main
from gateway.store import Database, PullJob, RawDocument
from tests.env import isolate_settings


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    isolate_settings(monkeypatch, tmp_path)
    return tmp_path


def test_demo_pulls_through_the_sandbox_and_is_idempotent(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "9 created, 0 kept" in first
    assert "3 certificates valid against the trust bundle" in first
    assert "5 gateways on 127.0.0.1 over mutual TLS (gw3 faulty)" in first
    assert "HG-6013" in first  # the faulty gateway is reported with its reason
    assert "reachable documents held: OK" in first
    assert "audit      chain verified (" in first
    assert "records); head anchored in var/demo/anchors.jsonl" in first
    bundle = json.loads((workdir / "var" / "demo" / "bundle.json").read_bytes())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["entry"]
    audit = (workdir / "var" / "demo" / "audit.ndjson").read_text().splitlines()
    assert all(json.loads(line)["resourceType"] == "AuditEvent" for line in audit)

    assert main(["demo"]) == 0
    second = capsys.readouterr().out
    assert "0 created, 9 kept" in second
    assert "1 earlier anchor matches); head anchored" in second  # the first run's anchor still holds
    assert "linked" in second  # links from the first pull are reused: no second ITI-55 to those
    db = Database(f"sqlite:///{workdir / 'var' / 'hiegate.db'}")
    try:
        with db.session() as session:
            documents = session.scalar(select(func.count()).select_from(RawDocument))
            assert session.scalar(select(func.count()).select_from(PullJob)) == 2
    finally:
        db.dispose()
    assert documents is not None
    assert documents > 0
    assert "already held" in second


def test_demo_stops_with_exit_1_when_the_pki_does_not_validate(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "init"]) == 0
    other = workdir / "other"
    assert main(["certs", "init", "--dir", str(other)]) == 0
    (workdir / "var" / "certs" / "tls-server.pem").write_bytes((other / "tls-server.pem").read_bytes())
    (workdir / "var" / "certs" / "tls-server-key.pem").write_bytes(
        (other / "tls-server-key.pem").read_bytes()
    )
    capsys.readouterr()
    assert main(["demo"]) == 1
    assert "FAILED validation" in capsys.readouterr().out


def test_demo_fails_when_its_audit_chain_no_longer_matches_an_earlier_anchor(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    anchors = workdir / "var" / "demo" / "anchors.jsonl"
    anchor = json.loads(anchors.read_text())
    database = Database(f"sqlite:///{workdir / 'var' / 'hiegate.db'}")
    try:  # the anchored record rewritten (its hash replaced), as a rewrite of the chain would leave it
        with database.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE audit_event SET hash = ? WHERE seq = ?", ("0" * 64, anchor["seq"])
            )
    finally:
        database.dispose()
    capsys.readouterr()
    assert main(["demo"]) == 1
    out = capsys.readouterr().out
    assert f"audit      chain BROKEN at record {anchor['seq']}" in out
    assert len(anchors.read_text().splitlines()) == 1  # a broken chain is not anchored
