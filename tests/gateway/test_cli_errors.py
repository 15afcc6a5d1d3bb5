"""What the README promises for every anticipated failure: one line ``hiegate: HG-xxxx: message``, a
non-zero exit, no traceback; and ``--config`` / ``config show --json`` as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import _parser, main
from gateway.config import load_settings
from gateway.pull_cli import _request
from tests.env import isolate_settings
from tests.fhir_facade.ccda.helpers import fixture_bytes


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    path = tmp_path / "afile"
    path.write_text("not a folder\n")
    return path


@pytest.fixture
def ccda(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "ccd.xml"
    path.parent.mkdir()
    path.write_bytes(fixture_bytes("synthetic_ccd.xml"))
    return path


def _one_line(err: str, code: str) -> str:
    assert err.startswith(f"hiegate: {code}: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("sub", "problem"),
    [("", "exists and is not a folder"), ("sub", "a part of this path is a file, not a folder")],
)
def test_certs_init_into_a_file(
    afile: Path, capsys: pytest.CaptureFixture[str], sub: str, problem: str
) -> None:
    target = afile / sub if sub else afile
    assert main(["certs", "init", "--dir", str(target)]) == 2
    err = _one_line(capsys.readouterr().err, "HG-1002")
    assert problem in err


@pytest.mark.parametrize("consolidate", [[], ["--consolidate"]])
def test_convert_out_is_a_file(
    afile: Path, ccda: Path, capsys: pytest.CaptureFixture[str], consolidate: list[str]
) -> None:
    assert main(["convert", str(ccda), "--out", str(afile), *consolidate]) == 2
    err = _one_line(capsys.readouterr().err, "HG-1002")
    assert str(afile) in err


def test_audit_export_into_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["patients", "add", "--family", "Doe", "--given", "Jan", "--birth-date", "1970-01-01"]) == 0
    capsys.readouterr()
    out = tmp_path / "nodir" / "x.ndjson"
    assert main(["audit", "export", "--format", "fhir", "--out", str(out)]) == 2
    assert "no such file or folder" in _one_line(capsys.readouterr().err, "HG-1002")


def test_missing_input_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexist.xml"
    assert main(["patients", "add", "--from-ccda", str(missing)]) == 2
    assert f"{missing}: no such file or folder" in _one_line(capsys.readouterr().err, "HG-1002")
    assert main(["documents", "add", "--patient", "P", str(missing)]) == 2
    assert f"{missing}: no such file or folder" in _one_line(capsys.readouterr().err, "HG-1002")


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["verify"], 0),
        (["search"], 1),  # no tenant yet: a one-line HG-8002, not "no such table"
        (["export", "--format", "csv"], 1),
        (["disclosures", "--patient", "P"], 1),
    ],
)
def test_audit_commands_migrate_a_fresh_database(
    capsys: pytest.CaptureFixture[str], args: list[str], status: int, tmp_path: Path
) -> None:
    # No database file yet: one line saying there is no audit log there, and no file made.
    assert main(["audit", *args]) == 2
    err = _one_line(capsys.readouterr().err, "HG-1002")
    assert f"database file {tmp_path / 'fresh.db'} does not exist: no audit log there" in err
    assert not (tmp_path / "fresh.db").exists()
    # A database file without the schema yet (made by hand or by an older release) is migrated first.
    (tmp_path / "fresh.db").touch()
    assert main(["audit", *args]) == status
    captured = capsys.readouterr()
    assert "no such table" not in captured.err
    if status:
        _one_line(captured.err, "HG-8002")
    else:
        assert "no audit records yet" in captured.out


def test_directory_import_of_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "import", str(tmp_path)]) == 2
    err = _one_line(capsys.readouterr().err, "HG-1002")
    assert f"directory file {tmp_path}: is a folder, a file is expected" in err


def test_console_script_prints_no_traceback(afile: Path) -> None:
    script = Path(sys.executable).parent / "hiegate"
    done = subprocess.run(
        [str(script), "certs", "init", "--dir", str(afile)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    _one_line(done.stderr, "HG-1002")


def test_unexpected_error_is_one_line_unless_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gateway.cli

    def broken(*_: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.cli, "_db_current", broken)
    assert main(["db", "current"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "hiegate: unexpected error: RuntimeError: a bug "
        "(run with HIEGATE_LOG_LEVEL=DEBUG for the traceback)\n"
    )
    monkeypatch.setenv("HIEGATE_LOG_LEVEL", "DEBUG")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["db", "current"])


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "show", "--config", "x.toml"],
        ["--config", "x.toml", "config", "show"],
        ["config", "--config", "x.toml", "show"],
    ],
)
def test_config_option_after_the_command(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    Path("x.toml").write_text('tenant = "from-file"\n')
    assert main(argv) == 0
    assert "from-file" in capsys.readouterr().out


def test_config_option_after_the_command_wins_and_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    Path("x.toml").write_text('tenant = "from-file"\n')
    assert main(["--config", "x.toml", "audit", "verify", "--config", "nope.toml"]) == 2
    assert "nope.toml: no such file or folder" in _one_line(capsys.readouterr().err, "HG-1002")


def test_config_show_json_has_json_types(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HIEGATE_KEY_PASSWORD", "s3cret")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    shown = json.loads(out)
    assert shown["responding_port"] == 8443
    assert shown["api_keys_enabled"] is True
    assert shown["pull_breaker_recovery_seconds"] == 30.0
    assert shown["requesting_user_npi"] is None
    assert shown["key_password"] == "********"
    assert shown["certs_dir"] == "var/certs"


@pytest.mark.parametrize("given", [["Mary", "Ann"], ["Mary Ann"], ["Mary", "--given", "Ann"]])
def test_given_names_space_separated_or_repeated(
    given: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # `patients add` and `pull` take --given the same way: several names after one flag, or the flag again.
    assert main(["patients", "add", "--family", "Doe", "--given", *given, "--birth-date", "1970-01-01"]) == 0
    capsys.readouterr()
    assert main(["patients", "list"]) == 0
    assert "Doe, Mary Ann " in capsys.readouterr().out
    args = _parser().parse_args(["pull", "--given", *given, "--family", "Doe", "--birth-date", "1970-01-01",
                                 "--gender", "F"])  # fmt: skip
    assert _request(args, load_settings(None)).demographics.names[0].given == ("Mary", "Ann")
