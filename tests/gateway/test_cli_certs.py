"""`hiegate certs init|check` from the command line: files, re-runs, and failures as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from tests.env import isolate_settings


def test_init_then_rerun_keeps_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = tmp_path / "pki"
    assert main(["certs", "init", "--dir", str(pki)]) == 0
    out = capsys.readouterr().out
    assert out.count("created") == 9
    key = (pki / "signing-key.pem").read_bytes()
    assert main(["certs", "init", "--dir", str(pki)]) == 0
    assert capsys.readouterr().out.count("kept") == 9
    assert (pki / "signing-key.pem").read_bytes() == key
    assert main(["certs", "init", "--dir", str(pki), "--force"]) == 0
    assert (pki / "signing-key.pem").read_bytes() != key
    assert main(["certs", "check", "--dir", str(pki)]) == 0
    assert capsys.readouterr().out.count("ok ") >= 3


def test_missing_ca_key_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = tmp_path / "pki"
    assert main(["certs", "init", "--dir", str(pki)]) == 0
    (pki / "ca-key.pem").unlink()
    capsys.readouterr()
    assert main(["certs", "init", "--dir", str(pki)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-4007: ")
    assert err.count("\n") == 1


def test_check_of_untrusted_certificate_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert main(["certs", "init", "--dir", str(ours)]) == 0
    assert main(["certs", "init", "--dir", str(theirs)]) == 0
    (ours / "trust-bundle.pem").write_bytes((theirs / "ca.pem").read_bytes())
    capsys.readouterr()
    assert main(["certs", "check", "--dir", str(ours)]) == 1
    captured = capsys.readouterr()
    assert "HG-4006" in captured.out
    assert "certificate check failed" in captured.err


def test_check_before_init_prints_one_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_settings(monkeypatch, tmp_path)
    assert main(["certs", "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        "FAILED  tls-server.pem",
        "FAILED  tls-client.pem",
        "FAILED  signing.pem",
    ]
    assert all(line.endswith("does not exist.") for line in lines[:3])
    assert lines[3:] == ["run `hiegate certs init` to create a development PKI"]


def test_check_of_a_complete_pki_prints_no_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certs", "init", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["certs", "check", "--dir", str(tmp_path)]) == 0
    assert "certs init" not in capsys.readouterr().out


def test_pull_before_init_says_to_run_certs_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_settings(monkeypatch, tmp_path)
    assert main(["db", "upgrade"]) == 0  # the database is there (a pull refuses a missing one first)
    capsys.readouterr()
    person = ["--given", "Ada", "--family", "Lee", "--birth-date", "1970-01-01", "--gender", "F"]
    assert main(["pull", *person]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-4001: The certificate file ")
    assert err.endswith(
        " does not exist: run `hiegate certs init` for a development PKI, or set certs_dir.\n"
    )
