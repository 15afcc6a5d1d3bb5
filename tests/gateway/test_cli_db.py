"""`hiegate db upgrade` applies migrations to the configured database and reports what it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.store import head_revision


def test_db_upgrade_then_current(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HIEGATE_DATABASE_URL", raising=False)
    assert main(["db", "current"]) == 0
    assert "none (empty database)" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"upgraded from empty to revision {head_revision()}" in capsys.readouterr().out
    assert (tmp_path / "var" / "hiegate.db").is_file()
    assert main(["db", "upgrade"]) == 0
    assert "already at revision" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_unreachable_database_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "HIEGATE_DATABASE_URL", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none?connect_timeout=2"
    )
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-5001: cannot reach the database")
    assert "pw" not in err.replace("postgresql", "")


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["db", "sideways"])
    assert caught.value.code == 2
