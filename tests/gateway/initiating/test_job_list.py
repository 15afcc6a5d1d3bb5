"""``hiegate pull --list``: the tenant's latest jobs, newest first, each with its state and counts, which
unfinished ones a live worker holds, and how to finish the ones nobody holds; no patient details. And
``hiegate pull`` leaves an unfinished job that another live process holds to that process, refuses to run
the same pull beside it, and names the unfinished jobs nobody holds without running them."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gateway.cli import main
from gateway.directory import SelectionSpec, SelectionStrategy
from gateway.store import Database, PullJob
from gateway.store.models import utcnow
from tests.gateway.initiating.conftest import (
    HEALTHY,
    NOBODY,
    Network,
    cli_settings,
    import_directory,
    make_service,
    patient_args,
    request_for,
    user,
)


def _lines(text: str) -> dict[str, str]:
    """Each table row by the job id it starts with (the console may wrap cells: ids stay whole)."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        found = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", line)
        if found and found[0] not in rows:
            rows[found[0]] = line
    return rows


def test_list_shows_each_job_newest_first_with_what_holds_it(
    network: Network,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    explicit = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY, NOBODY))
    done = asyncio.run(service.pull(replace(request_for(network), selection=explicit))).job_id
    cancelled = service.create_job(request_for(network))
    service.store.cancel_job(cancelled, user())
    waiting = service.create_job(replace(request_for(network), selection=explicit))
    with database.session() as session, session.begin():  # its worker stopped beating ten minutes ago
        session.execute(
            update(PullJob)
            .where(PullJob.id == waiting)
            .values(heartbeat_at=utcnow() - dt.timedelta(minutes=10))
        )
    running = service.create_job(request_for(network))
    service.store.claim(running)  # held by this live process, heartbeat now
    cli_settings(monkeypatch, tmp_path, network, database)
    capsys.readouterr()

    assert main(["pull", "--list"]) == 0
    out = capsys.readouterr().out
    rows = _lines(out)
    assert list(rows) == [str(running), str(waiting), str(cancelled), str(done)], out
    assert "discovering (running)" in rows[str(running)]
    assert "(waiting)" in rows[str(waiting)]
    assert "cancelled" in rows[str(cancelled)]
    assert "(waiting)" not in rows[str(cancelled)]
    # The finished pull: both gateways answered, HEALTHY matched and its two documents are held.
    assert re.search(r"done\s.*\s2/2/2\s+│\s+1\s+│\s+0\s+│\s+2/2\s+│\s+2\s+│", rows[str(done)])
    # When its record was published, then how long it took; "-" for jobs without a record yet.
    assert re.findall(r"│\s+(\d+\.\d)/(\d+\.\d)\s+│", rows[str(done)]), out
    published, took = re.findall(r"│\s+(\d+\.\d)/(\d+\.\d)\s+│", rows[str(done)])[0]
    assert float(published) <= float(took)
    assert re.search(r"│\s+-/-\s+│", rows[str(running)])
    # Only the job nobody holds is pointed at --resume; no patient detail is printed.
    hint = " ".join(out[out.index("gateways: answered") :].split())
    assert (
        "1 unfinished job that no process runs: `hiegate pull --resume JOB` finishes one, e.g. "
        f"`hiegate pull --resume {waiting}`"
    ) in hint
    grace = network.grace
    assert grace.names[0].family not in out
    assert grace.birth_date is not None
    assert grace.birth_date.isoformat() not in out

    assert main(["pull", "--list", "2"]) == 0
    assert list(_lines(capsys.readouterr().out)) == [str(running), str(waiting)]


def test_list_of_nothing_and_a_bad_count(
    network: Network,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_settings(monkeypatch, tmp_path, network, database)
    assert main(["pull", "--list"]) == 0
    assert capsys.readouterr().out.strip() == "no pull jobs yet"
    assert main(["pull", "--list", "0"]) == 2
    assert "--list takes a positive number of jobs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["pull", "--list", "--cancel", "x"])
    assert usage.value.code == 2
    assert "not allowed with argument --list" in capsys.readouterr().err


def test_a_pull_leaves_the_jobs_another_live_process_runs_to_it(
    network: Network,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    explicit = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY, NOBODY))
    theirs = service.create_job(replace(request_for(network), selection=explicit))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = f"{socket.gethostname()}:{other.pid}"  # e.g. the API server's worker, running it now
        with database.session() as session, session.begin():
            session.execute(
                update(PullJob).where(PullJob.id == theirs).values(worker=holder, heartbeat_at=utcnow())
            )
        cli_settings(monkeypatch, tmp_path, network, database)
        capsys.readouterr()

        assert main(["pull", *patient_args(network), "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "other unfinished pull" not in out  # it is in good hands: not even mentioned
        with database.session() as session:
            job = session.get(PullJob, theirs)
            assert job is not None
            assert (job.state, job.worker) == ("discovering", holder)  # untouched
            mine = session.scalars(select(PullJob).where(PullJob.id != theirs)).one()
            assert mine.state == "done"

        # The same pull as one a live process runs is not started twice, nor resumed from under it.
        with database.session() as session, session.begin():
            session.execute(
                update(PullJob).where(PullJob.id == mine.id).values(state="retrieving", worker=holder)
            )
        assert main(["pull", *patient_args(network), "--no-progress"]) == 1
        captured = capsys.readouterr()
        assert captured.err == (
            f"hiegate: HG-6202: this same pull is running in another process (job {mine.id}); "
            "`hiegate pull --list` shows its progress, and once that process has stopped, "
            f"`hiegate pull --resume {mine.id}` finishes it\n"
        )
        assert "Traceback" not in captured.out
        with database.session() as session:
            assert len(session.scalars(select(PullJob.id)).all()) == 2
            job = session.get(PullJob, mine.id)
            assert job is not None
            assert (job.state, job.worker) == ("retrieving", holder)
    finally:
        other.kill()
        other.wait()


def test_a_pull_names_the_unfinished_jobs_nobody_runs_without_running_them(
    network: Network,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another patient's job left unfinished (a crash) does not delay the pull asked for now: it is named,
    with how to finish it, and left as it was."""
    import_directory(network, database)
    service = make_service(network, database)
    explicit = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY, NOBODY))
    left = service.create_job(replace(request_for(network), selection=explicit))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # the process that left it, since ended
    gone.wait()
    crashed = f"{socket.gethostname()}:{gone.pid}"
    with database.session() as session, session.begin():
        session.execute(
            update(PullJob).where(PullJob.id == left).values(worker=crashed, heartbeat_at=utcnow())
        )
    with database.session() as session:
        before = session.get(PullJob, left)
        assert before is not None
        state, worker = before.state, before.worker
    cli_settings(monkeypatch, tmp_path, network, database)
    capsys.readouterr()

    assert main(["pull", *patient_args(network), "--no-progress"]) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert (
        "1 other unfinished pull that no process runs: `hiegate pull --list` shows them, "
        "`hiegate pull --resume JOB` finishes one"
    ) in out
    with database.session() as session:
        job = session.get(PullJob, left)
        assert job is not None
        assert (job.state, job.worker) == (state, worker)
        mine = session.scalars(select(PullJob).where(PullJob.id != left)).one()
        assert mine.state == "done"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc to see a zombie")
def test_a_killed_pull_not_yet_reaped_holds_nothing() -> None:
    """A pull killed outright (SIGKILL) whose parent has not collected it yet is a zombie: it runs nothing,
    and its job must be resumable at once rather than refused as held for the two minutes of its heartbeat
    (``kill(pid, 0)`` alone says it exists)."""
    from gateway.initiating.jobs.base import _pid_alive
    from gateway.initiating.jobs.lifecycle import _held

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{dead.pid}/stat").read_bytes().rsplit(b")", 1)[1][1:2] != b"Z":
            assert time.monotonic() < deadline, "the child did not end"
            time.sleep(0.01)
        assert not _pid_alive(f"{socket.gethostname()}:{dead.pid}")
        assert _held("discovering", f"{socket.gethostname()}:{dead.pid}", utcnow()) is False
    finally:
        dead.wait()
    assert _pid_alive(f"{socket.gethostname()}:{os.getpid()}")  # this process runs
