"""`hiegate audit verify|search|export|disclosures|purge` against a database on disk."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from lxml import etree
from sqlalchemy import text

from gateway.audit import append_event
from gateway.cli import main
from gateway.store import Database
from gateway.store.documents import ensure_tenant
from tests.gateway.audit.factories import LOCAL_MRN, T0, every_path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dev_pki: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'hiegate.db'}"
    for name, value in {"DATABASE_URL": url, "CERTS_DIR": str(dev_pki), "TENANT": "clinic"}.items():
        monkeypatch.setenv(f"HIEGATE_{name}", value)
    monkeypatch.delenv("HIEGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    db = Database(url)
    db.upgrade()
    with db.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic", "Clinic")
        for hour, event in enumerate(every_path().values()):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
    yield db
    db.dispose()


def test_verify_ok_then_detects_a_hand_edit(env: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    total = len(every_path())  # one record per path through the event kinds
    assert f"tenant clinic: OK, {total} records (seq 1..{total})" in out
    assert "records/s" in out
    with env.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET content = replace(content, 'dr.house', 'x') WHERE seq = 3")
        )
    assert main(["audit", "verify", "--tenant", "clinic"]) == 1
    captured = capsys.readouterr()
    assert "BROKEN at record 3: changed" in captured.out
    assert (
        captured.err.strip() == "hiegate: HG-8003: audit chain of tenant clinic broken at record 3 (changed)"
    )


def test_search_with_filters_and_cursor(env: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "search", "--transaction", "ITI-39", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "ITI-39 responding" in out
    assert "next page: --cursor" in out
    cursor = out.rsplit("--cursor ", 1)[1].strip()
    assert (
        main(["audit", "search", "--transaction", "ITI-39", "--limit", "1", "--cursor", cursor, "--json"])
        == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert [r["transaction"] for r in body["records"]] == ["ITI-39"]
    assert body["next_cursor"] is None
    assert main(["audit", "search", "--patient", LOCAL_MRN, "--outcome", "12", "--since", "2026-03-01"]) == 0
    assert "pull failed" in capsys.readouterr().out
    assert main(["audit", "search", "--tenant", "nobody"]) == 1
    assert "HG-8002" in capsys.readouterr().err


@pytest.mark.parametrize("export_format", ["fhir", "atna", "csv"])
def test_export_files_load(
    env: Database, tmp_path: Path, export_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / f"audit.{export_format}"
    assert (
        main(["audit", "export", "--format", export_format, "--out", str(target), "--kind", "transaction"])
        == 0
    )
    assert "exported 6 audit records" in capsys.readouterr().err
    data = target.read_bytes()
    if export_format == "fhir":
        assert len([FhirAuditEvent.model_validate(orjson.loads(line)) for line in data.splitlines()]) == 6
    elif export_format == "atna":
        assert len(etree.fromstring(data)) == 6
    else:
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert len(rows) == 6
        assert {r["kind"] for r in rows} == {"transaction"}


def test_disclosures(env: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "disclosures", "--patient", LOCAL_MRN]) == 0
    out = capsys.readouterr().out
    assert f"Accounting of disclosures for patient {LOCAL_MRN}: 6 entries" in out
    assert "sent-to" in out
    assert "received-from" in out


def test_purge_then_verify(env: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "purge", "--before", (T0 + dt.timedelta(hours=5)).isoformat()]) == 0
    assert "purged 5 records (seq 1..5)" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    total = len(every_path())
    assert f"OK, {total - 5} records (seq 6..{total}), from checkpoint (1 purges)" in capsys.readouterr().out
    with env.engine.begin() as connection:
        connection.execute(text("UPDATE audit_checkpoint SET last_seq = 4"))
    assert main(["audit", "verify"]) == 1
    assert "checkpoint-invalid" in capsys.readouterr().out
