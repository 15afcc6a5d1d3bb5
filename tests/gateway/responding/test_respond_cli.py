"""``hiegate respond`` from the command line: before ``certs init`` the missing certificate says what to do;
a port already in use is one line before the banner (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from tests.env import isolate_settings


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_settings(monkeypatch, tmp_path)


def test_without_certificates_says_to_run_certs_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["respond"]) == 1
    err = capsys.readouterr().err
    bundle = tmp_path / "var" / "certs" / "trust-bundle.pem"
    assert err == (
        f"hiegate: HG-4001: The certificate file {bundle} does not exist: "
        "run `hiegate certs init` for a development PKI, or set certs_dir.\n"
    )


def test_a_port_in_use_is_one_line_before_the_banner(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "init"]) == 0
    capsys.readouterr()
    assert main(["respond", "--port", str(busy_port)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"hiegate: HG-1003: port {busy_port} on 127.0.0.1 is already in use\n"
    assert captured.out == ""


@pytest.mark.parametrize(("setting", "bound"), [(None, False), ("true", True), ("false", False)])
def test_the_tls_binding_of_signers_is_a_setting(
    setting: str | None, bound: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator turns on the binding of the assertion's signer to the mutual-TLS client certificate in the
    settings; `hiegate respond`'s verifier applies it."""
    from gateway.config import load_settings
    from gateway.responding.server import gateway_from_settings
    from gateway.store import Database

    assert main(["certs", "init"]) == 0
    if setting is not None:
        monkeypatch.setenv("HIEGATE_RESPONDING_REQUIRE_TLS_BINDING", setting)
    database = Database(f"sqlite:///{tmp_path / 'respond.db'}")
    try:
        gateway = gateway_from_settings(load_settings(None), database)
        assert gateway.verifier.policy.require_signer_matches_tls_peer is bound
    finally:
        database.dispose()


def test_sha1_is_accepted_from_the_partners_the_partners_file_allows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hiegate respond` takes SHA-1 from the partners whose `allow_sha1` is set, as it sends it to them, and
    from nobody else (the defaults answer for partners not listed)."""
    from gateway.config import load_settings
    from gateway.responding.server import gateway_from_settings
    from gateway.store import Database

    assert main(["certs", "init"]) == 0
    partners = tmp_path / "partners.toml"
    partners.write_text(
        '[partner."1.3.6.1.4.1.99999.800"]\nallow_sha1 = true\n'
        '[partner."1.3.6.1.4.1.99999.801"]\nretrieve_batch_size = 2\n'
    )
    monkeypatch.setenv("HIEGATE_PARTNERS_FILE", str(partners))
    database = Database(f"sqlite:///{tmp_path / 'respond.db'}")
    try:
        policy = gateway_from_settings(load_settings(None), database).verifier.policy
        assert policy.accepts_sha1_from("1.3.6.1.4.1.99999.800")
        assert not policy.accepts_sha1_from("1.3.6.1.4.1.99999.801")
        assert not policy.accepts_sha1_from("1.3.6.1.4.1.99999.802")
        assert not policy.accepts_sha1_from(None)
        partners.write_text(
            '[defaults]\nallow_sha1 = true\n[partner."1.3.6.1.4.1.99999.801"]\nallow_sha1 = false\n'
        )
        policy = gateway_from_settings(load_settings(None), database).verifier.policy
        assert policy.accepts_sha1_from("1.3.6.1.4.1.99999.802")
        assert not policy.accepts_sha1_from("1.3.6.1.4.1.99999.801")
    finally:
        database.dispose()


def test_a_bad_partners_file_stops_respond_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "init"]) == 0
    capsys.readouterr()
    partners = tmp_path / "partners.toml"
    partners.write_text('[partner."1.3.6.1.4.1.99999.800"]\nallow_sha1 = "yes"\n')
    monkeypatch.setenv("HIEGATE_PARTNERS_FILE", str(partners))
    assert main(["respond"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("hiegate: HG-1001: ")
    assert "allow_sha1" in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_a_named_partners_file_that_is_missing_stops_respond_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "init"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("HIEGATE_PARTNERS_FILE", str(tmp_path / "missing.toml"))
    assert main(["respond"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("hiegate: HG-1002: partners_file ")
    assert captured.err.rstrip().endswith("missing.toml: no such file or folder")
    assert captured.err.count("\n") == 1
