"""Settings come from HIEGATE_* variables and an optional TOML file; a bad value: one clear line, exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import load_settings
from tests.env import isolate_settings
from xca.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path)


def test_defaults_are_the_embedded_sqlite_setup() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/hiegate.db"
    assert settings.certs_dir == Path("var/certs")
    assert settings.tenant == "default"


def test_environment_overrides_toml_which_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("hiegate.toml").write_text('organization_name = "Toml Clinic"\ntenant = "from-toml"\n')
    monkeypatch.setenv("HIEGATE_TENANT", "from-env")
    settings = load_settings()
    assert settings.organization_name == "Toml Clinic"
    assert settings.tenant == "from-env"


def test_explicit_config_file_and_env_pointer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('home_community_id = "1.2.3.4"\n')
    assert load_settings(other).home_community_id == "1.2.3.4"
    monkeypatch.setenv("HIEGATE_CONFIG", str(other))
    assert load_settings().home_community_id == "1.2.3.4"


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        (
            "HIEGATE_HOME_COMMUNITY_ID",
            "urn:oid:1.2.3",
            "HIEGATE_HOME_COMMUNITY_ID: expected a bare dotted OID",
        ),
        ("HIEGATE_XML_MAX_BYTES", "lots", "HIEGATE_XML_MAX_BYTES: Input should be a valid integer"),
        ("HIEGATE_DATABASE_URL", "mysql://x/y", "HIEGATE_DATABASE_URL: expected a sqlite:// or postgresql"),
        ("HIEGATE_LOG_LEVEL", "LOUD", "HIEGATE_LOG_LEVEL: Input should be 'DEBUG'"),
        ("HIEGATE_TENANT", "Has Spaces", "HIEGATE_TENANT: expected a lower-case slug"),
    ],
)
def test_bad_value_is_one_line_naming_the_setting_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hiegate: HG-1001: ")
    assert expected in err


def test_unknown_toml_key_and_broken_toml(capsys: pytest.CaptureFixture[str]) -> None:
    Path("hiegate.toml").write_text('databse_url = "sqlite:///x.db"\n')
    assert main(["config", "show"]) == 2
    assert "databse_url (in hiegate.toml): unknown setting" in capsys.readouterr().err
    Path("hiegate.toml").write_text("tenant = \n")
    assert main(["config", "show"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_missing_explicit_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "nope.toml", "config", "show"]) == 2
    err = capsys.readouterr().err
    assert err == "hiegate: HG-1002: config file nope.toml: no such file or folder\n"


def test_config_file_that_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path), "config", "show"]) == 2
    err = capsys.readouterr().err
    assert err == f"hiegate: HG-1002: config file {tmp_path}: is a folder, a file is expected\n"


def test_missing_config_file_named_by_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HIEGATE_CONFIG", "gone.toml")
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err == "hiegate: HG-1002: HIEGATE_CONFIG file gone.toml: no such file or folder\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    Path("locked.toml").write_text('tenant = "x"\n')
    Path("locked.toml").chmod(0)
    assert main(["--config", "locked.toml", "config", "show"]) == 2
    err = capsys.readouterr().err
    assert err == "hiegate: HG-1002: config file locked.toml: not readable (permission denied)\n"


def test_config_show_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HIEGATE_DATABASE_URL", "postgresql+psycopg://gw:s3cret-pw@db.internal:5432/hie")
    monkeypatch.setenv("HIEGATE_KEY_PASSWORD", "another-s3cret")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    shown = json.loads(out)
    assert shown["key_password"] == "********"
    assert shown["database_url"] == "postgresql+psycopg://gw:***@db.internal:5432/hie"


def test_bad_password_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIEGATE_KEY_PASSWORD", "x")
    monkeypatch.setenv("HIEGATE_XML_MAX_BYTES", "-5")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "HIEGATE_XML_MAX_BYTES" in str(caught.value)


def test_npi_is_luhn_checked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HIEGATE_REQUESTING_USER_NPI", "1234567890")  # ten digits, wrong check digit
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hiegate: HG-1001: HIEGATE_REQUESTING_USER_NPI: expected a ten-digit NPI")
    monkeypatch.setenv("HIEGATE_REQUESTING_USER_NPI", "1234567893")  # CMS's own example of a valid NPI
    assert load_settings().requesting_user_npi == "1234567893"


def test_bad_value_names_the_key_in_the_file_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "x.toml"
    config.write_text('responding_port = "x"\n')
    assert main(["config", "show", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hiegate: HG-1001: responding_port (in {config}): Input should be a valid integer")
    assert "HIEGATE_RESPONDING_PORT" not in err


def test_environment_wins_and_is_named_over_the_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("hiegate.toml").write_text("responding_port = 8000\n")
    monkeypatch.setenv("HIEGATE_RESPONDING_PORT", "0")
    assert main(["config", "show"]) == 2
    assert "HIEGATE_RESPONDING_PORT: Input should be greater than or equal to 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "respond"])
def test_bad_flag_is_named_as_the_flag(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert main([command, "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-1001: --port: Input should be less than or equal to 65535")
    assert err.count("\n") == 1


def test_flag_named_via_origins_in_load_settings() -> None:
    with pytest.raises(ConfigError, match=r"^HG-1001: --port: "):
        load_settings(origins={"api_port": "--port"}, api_port=0)
    with pytest.raises(ConfigError, match=r"^HG-1001: api_port: "):
        load_settings(api_port=0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIRECTORY_AUTH_HEADER", "apikey without-a-colon-s3cret"),
        ("DATABASE_URL", "mysql://gw:s3cret@db.internal/hie"),
    ],
)
def test_a_refused_secret_is_not_repeated(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A bad value is echoed to help fix it, except a secret or a database URL (it may hold a password)."""
    monkeypatch.setenv(f"HIEGATE_{name}", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.message.startswith(f"HIEGATE_{name}: expected ")
    assert "s3cret" not in refused.value.message
