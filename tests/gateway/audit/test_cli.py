"""`hiegate audit verify|search|export|disclosures|purge` against a database on disk."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from lxml import etree
from sqlalchemy import text

from gateway.cli import main
from gateway.store import Database
from tests.gateway.audit.factories import LOCAL_MRN, T0, every_path


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


def test_purge_then_verify(
    env: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIEGATE_AUDIT_RETENTION_DAYS", "1")  # the records are from T0, more than a day ago
    assert main(["audit", "purge", "--before", (T0 + dt.timedelta(hours=5)).isoformat()]) == 0
    assert "purged 5 records (seq 1..5)" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    total = len(every_path())
    assert f"OK, {total - 5} records (seq 6..{total}), from checkpoint (1 purges)" in capsys.readouterr().out
    with env.engine.begin() as connection:
        connection.execute(text("UPDATE audit_checkpoint SET last_seq = 4"))
    assert main(["audit", "verify"]) == 1
    assert "checkpoint-invalid" in capsys.readouterr().out


def _records(db: Database) -> tuple[int, int]:
    with db.engine.connect() as connection:
        events = connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one()
        checkpoints = connection.execute(text("SELECT count(*) FROM audit_checkpoint")).scalar_one()
    return events, checkpoints


STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_purge_refuses_a_cutoff_inside_the_retention_period(
    env: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default retention is 2190 days: records of T0 (2026-03-01) must be kept until 2032.
    assert main(["audit", "purge", "--before", "2026-03-01T05:00:00Z"]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"hiegate: HG-8005: refusing to purge before 2026-03-01T05:00:00Z: records of the last 2190 days "
        rf"\(audit_retention_days\) must be kept, so the cut-off must be ({STAMP}) or earlier; "
        r"nothing was deleted\n",
        err,
    ), err
    latest = dt.datetime.fromisoformat(err.split("must be ")[2].split(" or earlier")[0])
    assert abs(latest - (dt.datetime.now(dt.UTC) - dt.timedelta(days=2190))) < dt.timedelta(minutes=5)
    assert _records(env) == (len(every_path()), 0)


def test_purge_refuses_a_cutoff_in_the_future_whatever_the_retention(
    env: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIEGATE_AUDIT_RETENTION_DAYS", "1")
    assert main(["audit", "purge", "--before", "2099-01-01"]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"hiegate: HG-8005: refusing to purge before 2099-01-01T00:00:00Z: that is in the future "
        rf"\(now is {STAMP}\); nothing was deleted\n",
        err,
    ), err
    assert _records(env) == (len(every_path()), 0)


def test_purge_without_a_cutoff_keeps_the_retention_period(
    env: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "purge"]) == 0
    assert "tenant clinic: nothing recorded before" in capsys.readouterr().out
    assert _records(env) == (len(every_path()), 0)


EXPECTED = (
    "expected a date YYYY-MM-DD or a date-time such as 2026-03-01T09:30:00Z (UTC unless an offset is given)"
)


NO_DAY = "(day is out of range for month)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--since", "2026-02-30"], f"--since: {{e}}, got '2026-02-30' {NO_DAY}"),
        (["search", "--until", "2026-02-30"], f"--until: {{e}}, got '2026-02-30' {NO_DAY}"),
        (["purge", "--before", "2026-13-01"], "--before: {e}, got '2026-13-01' (month must be in 1..12)"),
        (["search", "--since", "yesterday"], "--since: {e}, got 'yesterday'"),
        (["export", "--format", "csv", "--until", "1.3.2026"], "--until: {e}, got '1.3.2026'"),
        (
            ["disclosures", "--patient", "P", "--since", "2026-03-01T25:00"],
            "--since: {e}, got '2026-03-01T25:00' (hour must be in 0..23)",
        ),
    ],
)
def test_a_bad_date_says_what_is_wrong_and_what_is_expected(
    env: Database, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["audit", *args])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"hiegate audit {args[0]}: error: argument {message.format(e=EXPECTED)}"
    assert "parse_time" not in err


def test_a_database_file_that_does_not_exist_is_not_a_clean_log(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "mistyped.db"
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{missing}")
    for command in (["audit", "verify"], ["audit", "search"], ["audit", "anchor"]):
        assert main(command) == 2
        assert capsys.readouterr().err == (
            f"hiegate: HG-1002: database file {missing} does not exist: no audit log there "
            "(check database_url)\n"
        )
    assert not missing.exists()
