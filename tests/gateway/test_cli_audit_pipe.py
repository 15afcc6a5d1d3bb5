"""``hiegate audit export ... | head -1``: every format stops quietly with 141, like ``audit search``."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import append_event
from gateway.store import Database
from gateway.store.documents import ensure_tenant
from tests.env import isolate_settings
from tests.gateway.audit.factories import T0, every_path
from tests.gateway.store.conftest import database, database_url, postgres_server_url

__all__ = ["database", "database_url", "postgres_server_url"]

PIPE_BUFFER = 64 * 1024


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: Database, database_url: str) -> Path:
    """Enough audit records that every export format writes several pipe buffers' worth."""
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("HIEGATE_TENANT", "clinic")
    events = list(every_path().values())
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic", "Clinic")
        for n in range(400):
            append_event(session, tenant, events[n % len(events)], now=T0 + dt.timedelta(minutes=n))
    return tmp_path


def _hiegate(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gateway.cli", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize("export_format", ["csv", "fhir", "atna"])
def test_an_export_whose_reader_goes_away_ends_quietly_with_141(workdir: Path, export_format: str) -> None:
    whole = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "audit", "export", "--format", export_format],
        cwd=workdir,
        env=dict(os.environ),
        capture_output=True,
        check=True,
    )
    assert len(whole.stdout) > 2 * PIPE_BUFFER  # still writing when the reader leaves

    with _hiegate(["audit", "export", "--format", export_format], workdir) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        first = child.stdout.readline()  # what `head -1` reads before it exits
        child.stdout.close()
        err = child.stderr.read().decode()
        status = child.wait(timeout=60)

    assert first == whole.stdout.splitlines(keepends=True)[0]
    assert "Traceback" not in err
    assert err == ""
    assert status == 141  # 128 + SIGPIPE, like `hiegate audit search | head`
