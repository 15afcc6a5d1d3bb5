"""`hiegate demo` runs the whole existing flow on a fresh folder, and a second run stores nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.cli import main
from gateway.store import Database, RawDocument


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith("HIEGATE_") and name != "HIEGATE_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_demo_runs_end_to_end_and_is_idempotent(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "9 created, 0 kept" in first
    assert "3 certificates valid against the trust bundle" in first
    assert "ITI-55     request" in first
    assert "OK, 1 match" in first
    assert "FindDocuments -> SUCCESS, 1 document(s)" in first
    assert "as mtom" in first
    assert "size and SHA-1 match the ITI-38 metadata" in first
    assert "  store      stored in tenant 'default'" in first
    assert (workdir / "var" / "certs" / "ca.pem").is_file()

    assert main(["demo"]) == 0
    second = capsys.readouterr().out
    assert "0 created, 9 kept" in second
    assert "already stored (kept once)" in second
    db = Database(f"sqlite:///{workdir / 'var' / 'hiegate.db'}")
    try:
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(RawDocument)) == 1
    finally:
        db.dispose()


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
