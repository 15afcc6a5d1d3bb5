"""`hiegate audit search|export --job`: one pull job's exchanges and its own records, on each database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import orjson
import pytest

from gateway.audit import AuditEvent, PullStage, RefusalReason, append_event
from gateway.cli import main
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import T0, iti38, iti39, iti55, pull_job, refusal

JOB_A = "6f1c2b9e-4d3a-4e8f-9b7a-1c2d3e4f5a60"
JOB_B = "0b7e5c1d-2a3f-4c6e-8d9b-7a6f5e4d3c21"


@pytest.fixture
def two_jobs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, database: Database, tenant: Tenant
) -> Database:
    for name, value in {"DATABASE_URL": database_url, "TENANT": tenant.slug}.items():
        monkeypatch.setenv(f"HIEGATE_{name}", value)
    monkeypatch.delenv("HIEGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    events: list[AuditEvent] = [
        pull_job(PullStage.REQUESTED, job_id=JOB_A),  # 1
        iti55(job_id=JOB_A),  # 2
        iti55(job_id=JOB_B),  # 3
        iti38(job_id=JOB_A),  # 4
        iti39(),  # 5: written before exchanges named their job
        iti39(job_id=JOB_A),  # 6
        refusal(RefusalReason.POLICY, detail=f"job {JOB_A}"),  # 7: the id in the text, not the job's
        pull_job(job_id=JOB_B),  # 8
        pull_job(job_id=JOB_A),  # 9
    ]
    with database.session() as session, session.begin():
        for hour, event in enumerate(events):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
    return database


def _searched(capsys: pytest.CaptureFixture[str], *options: str) -> list[int]:
    assert main(["audit", "search", "--json", *options]) == 0
    return [record["seq"] for record in json.loads(capsys.readouterr().out)["records"]]


def test_search_and_export_by_job(
    two_jobs: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _searched(capsys, "--job", JOB_A) == [9, 6, 4, 2, 1]
    assert _searched(capsys, "--job", JOB_A.upper()) == [9, 6, 4, 2, 1]
    assert _searched(capsys, "--job", JOB_B) == [8, 3]
    assert _searched(capsys, "--job", JOB_A, "--kind", "transaction") == [6, 4, 2]
    assert _searched(capsys, "--job", JOB_A, "--transaction", "ITI-38") == [4]

    target = tmp_path / "job.csv"
    assert main(["audit", "export", "--format", "csv", "--out", str(target), "--job", JOB_A]) == 0
    assert "exported 5 audit records as csv" in capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [int(row["seq"]) for row in rows] == [1, 2, 4, 6, 9]
    assert all(JOB_A in row["detail"] for row in rows)

    assert main(["audit", "export", "--format", "fhir", "--job", JOB_A, "--kind", "transaction"]) == 0
    captured = capsys.readouterr()
    assert "exported 3 audit records as fhir" in captured.err
    resources = [orjson.loads(line) for line in captured.out.splitlines()]
    assert [r["id"].rsplit("-", 1)[1] for r in resources] == ["2", "4", "6"]
    for resource in resources:
        assert {"value": JOB_A} in [entity.get("what", {}).get("identifier") for entity in resource["entity"]]


def test_unknown_job_finds_nothing(two_jobs: Database, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = "9d8c7b6a-5f4e-4d3c-8b2a-190817263544"
    assert main(["audit", "search", "--job", unknown]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 records"
    assert main(["audit", "export", "--format", "csv", "--job", unknown]) == 0
    assert "exported 0 audit records as csv" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["search"], ["export", "--format", "csv"]])
def test_malformed_job_is_a_usage_error(
    two_jobs: Database, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", *command, "--job", "job-0001"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage: hiegate audit" in captured.err
    assert "error: argument --job: not a job id (a UUID): 'job-0001'" in captured.err
    assert "Traceback" not in captured.err


def test_the_table_counts_a_pulls_communities_and_json_lists_them(
    two_jobs: Database, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pull asks up to hundreds of communities: the text table (one line per record) names one or counts
    them, so its rows stay readable; --json and the exports list every one."""
    many = tuple(f"2.16.840.1.113883.3.9999.{n}" for n in range(30))
    with two_jobs.session() as session, session.begin():
        append_event(session, tenant, pull_job(PullStage.REQUESTED, job_id=JOB_B, communities=many), now=T0)
    assert main(["audit", "search", "--job", JOB_B]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert "30 communities" in rows["10"]
    assert many[0] not in rows["10"]
    assert "2.16.840.1.113883.3.9999" in rows["8"]  # a single community is named
    assert len(lines[0]) < 120, lines[0]  # the header is padded to the widest cell of each column
    assert main(["audit", "search", "--json", "--job", JOB_B]) == 0
    records = {r["seq"]: r for r in json.loads(capsys.readouterr().out)["records"]}
    assert tuple(records[10]["communities"]) == many
