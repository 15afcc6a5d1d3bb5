"""``hiegate pull`` as a user runs it: ``--out`` holds the record as soon as it is published (late gateways
merged when the job ends), and Ctrl-C leaves a job that ``--resume`` finishes without asking again.

Both run the CLI against the test network's real gateways; the interrupt is a real SIGINT to a separate
process. Nothing asserts a duration: only the order of what the user sees.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from gateway.cli import main
from gateway.initiating import JobState
from gateway.store import Database, PullJob
from tests.env import isolate_settings
from tests.gateway.initiating.conftest import HEALTHY, SLOW, Network, import_directory, patient_args

_ROOT = Path(__file__).resolve().parents[3]


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, network: Network, database_url: str) -> None:
    isolate_settings(monkeypatch, tmp_path)
    partners = tmp_path / "partners.toml"
    # SLOW keeps its requests open for as long as the test needs: only the early record ends its wait.
    partners.write_text("[defaults]\nread_timeout = 30.0\ntotal_timeout = 30.0\n")
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("HIEGATE_CERTS_DIR", str(network.pki))
    monkeypatch.setenv("HIEGATE_PARTNERS_FILE", str(partners))


def _words(text: str) -> str:
    # The console wraps long lines at spaces (a temp path is long): compare with single spaces.
    return " ".join(text.split())


def test_out_holds_the_record_once_published_then_the_merged_one(
    network: Network,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # SLOW is healthy, only slow (every answer 1.5 s late) and holds one more document of the patient.
    network.nodes[SLOW].delay = 1.5
    network.nodes[SLOW].add_document(3, 1)
    import_directory(network, database)
    _configure(monkeypatch, tmp_path, network, database_url)
    out = tmp_path / "record.json"

    status = main(["pull", *patient_args(network), "--out", str(out), "--no-progress"])

    assert status == 0
    printed = _words(capsys.readouterr().out)
    early = re.search(rf"record ready: {re.escape(str(out))} \((\d+) resources\)", printed)
    final = re.search(
        rf"consolidated bundle: {re.escape(str(out))} \((\d+) resources\) \(late gateways merged\)", printed
    )
    assert early is not None, printed
    assert final is not None, printed
    assert early.start() < final.start()
    # The early file held HEALTHY's two documents; the final one adds what SLOW sent after.
    assert 0 < int(early[1]) < int(final[1])
    bundle = orjson.loads(out.read_bytes())
    assert bundle["type"] == "collection"
    assert len(bundle["entry"]) == int(final[1])
    assert not list(tmp_path.glob(".record.json.partial"))


@pytest.mark.parametrize("again", ["resume", "same pull"])
def test_ctrl_c_leaves_a_job_that_resume_finishes(
    again: str,
    network: Network,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import_directory(network, database)
    _configure(monkeypatch, tmp_path, network, database_url)
    slow, healthy = network.nodes[SLOW], network.nodes[HEALTHY]
    slow.delay = 0.0
    gate = threading.Event()
    slow.holds["/xcpd"] = gate  # SLOW's discovery does not answer until released
    out, log = tmp_path / "record.json", tmp_path / "pull.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:
        with log.open("wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "pull", *patient_args(network), "--out", str(out),
                 "--no-progress"],
                cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            # The record is published (HEALTHY's documents) while SLOW is still asked: then the user presses
            # Ctrl-C.
            while "record ready" not in _words(log.read_text(errors="replace")):
                assert child.poll() is None, f"the pull ended early:\n{log.read_text(errors='replace')}"
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.05)
            child.send_signal(signal.SIGINT)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    finally:
        gate.set()
        slow.holds.clear()

    printed = _words(log.read_text(errors="replace"))
    assert child.returncode == 130, printed
    assert "Traceback" not in printed
    with database.session() as session:
        job_id = session.scalars(select(PullJob.id)).one()
        assert session.get(PullJob, job_id).state != JobState.DONE.value  # type: ignore[union-attr]
    assert f"interrupted: job {job_id} is unfinished; `hiegate pull --resume {job_id}` finishes it" in printed
    # Said when the job was created too: a process killed outright (SIGKILL, a crash) says nothing at the end.
    started = f"job {job_id}: if this process stops, `hiegate pull --resume {job_id}` finishes it"
    assert printed.index(started) < printed.index("record ready")
    assert len(orjson.loads(out.read_bytes())["entry"]) > 0  # the early record stayed
    healthy_asked = healthy.hits.copy()

    # Either as told, or by running the same pull again: that finishes the stopped job, no second one.
    argv = ["--resume", str(job_id)] if again == "resume" else patient_args(network)
    status = main(["pull", *argv, "--no-progress"])

    assert status == 0
    printed = _words(capsys.readouterr().out)
    assert "record ready" not in printed  # nothing was overdue this time: no early record
    if again == "same pull":
        assert f"resuming job {job_id}: this same pull, stopped before it finished" in printed
    with database.session() as session:
        assert session.scalars(select(PullJob.id)).all() == [job_id]
        assert session.get(PullJob, job_id).state == JobState.DONE.value  # type: ignore[union-attr]
    # HEALTHY had answered everything before the interrupt: the resumed job asks it nothing again.
    assert healthy.hits == healthy_asked
    assert slow.hits["/xcpd"] == 2  # the interrupted request, and the resumed one
