"""The gateway's one settings object, read from ``HIEGATE_*`` environment variables and an optional TOML file.

Precedence, highest first: explicit arguments, environment variables, the TOML file, defaults. The TOML
file is ``--config PATH`` on the command line, else ``$HIEGATE_CONFIG``, else ``./hiegate.toml`` when it
exists. Its keys are the field names below (``database_url = "..."``). A bad value raises
:class:`ConfigError` whose message is one line naming the setting where the user wrote it (the environment
variable, ``key (in FILE)``, or the command-line flag) and what is expected.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xca.errors import ConfigError, PathAccessError, path_problem
from xca.ids import is_oid

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "Settings",
    "header_pair",
    "load_settings",
    "masked_settings",
    "read_named_file",
    "settings_as_json",
]

ENV_PREFIX = "HIEGATE_"
DEFAULT_CONFIG_FILE = Path("hiegate.toml")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# nhin-purpose (2.16.840.1.113883.3.18.7.1) and TEFCA exchange purposes; gateway.security holds the enums.
_PURPOSES = frozenset(
    [
        "TREATMENT",
        "PAYMENT",
        "OPERATIONS",
        "SYSADMIN",
        "FRAUD",
        "PSYCHOTHERAPY",
        "WORKERSCOMP",
        "PUBLICHEALTH",
        "LAWENFORCEMENT",
        "DISABILITY",
        "REQUEST",
        "COVERAGE",
        "EMERGENCY",
        "T-TREAT",
        "T-PYMNT",
        "T-HCO",
        "T-PH",
        "T-IAS",
        "T-GOVDTRM",
    ]
)
_toml_file: ContextVar[Path | None] = ContextVar("hiegate_toml_file", default=None)

# A development homeCommunityId under the 2.25 (UUID-derived) arc: valid, and clearly nobody's production OID.
_DEV_HOME_COMMUNITY_ID = "2.25.309480223112874631093478103874461730142"


_DEFAULT_PARTNERS_FILE: Final = Path("partners.toml")


class Settings(BaseSettings):
    """Effective configuration of one gateway (one organization, one homeCommunityId)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = Field(
        default="sqlite:///var/hiegate.db",
        description="SQLAlchemy URL; SQLite file under ./var by default, postgresql+psycopg://... at scale",
    )
    certs_dir: Path = Field(
        default=Path("var/certs"), description="where `hiegate certs init` writes the PKI"
    )
    key_password: SecretStr | None = Field(
        default=None, description="password that encrypts private keys written by `hiegate certs init`"
    )
    home_community_id: str = Field(
        default=_DEV_HOME_COMMUNITY_ID, description="this gateway's homeCommunityId (a bare OID)"
    )
    organization_name: str = Field(default="hie-gateway development clinic", min_length=1, max_length=200)
    tenant: str = Field(default="default", description="tenant slug")
    xml_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="largest inbound XML message")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    audit_retention_days: int = Field(
        default=2190,
        ge=1,
        description="days of audit records `hiegate audit purge` always keeps (also its default cut-off)",
    )
    audit_syslog_host: str | None = Field(
        default=None, description="ATNA collector for syslog over TLS (RFC 5425); unset: no forwarding"
    )
    audit_syslog_port: int = Field(default=6514, ge=1, le=65535, description="syslog-over-TLS port")
    audit_syslog_ca: Path | None = Field(
        default=None, description="CA bundle that verifies the collector (default: the dev trust bundle)"
    )
    responding_host: str = Field(default="127.0.0.1", description="address `hiegate respond` listens on")
    responding_port: int = Field(
        default=8443, ge=1, le=65535, description="port `hiegate respond` listens on"
    )
    responding_public_url: str | None = Field(
        default=None,
        description="base URL peers call (audience of their assertions); default https://HOST:PORT",
    )
    assigning_authority: str | None = Field(
        default=None, description="OID of the clinic's patient ids (default: home_community_id + '.2')"
    )
    repository_unique_id: str | None = Field(
        default=None,
        description="OID of the clinic's document repository (default: home_community_id + '.3')",
    )
    matching_threshold: int = Field(
        default=85, ge=50, le=100, description="lowest patient-matching score (0-100) answered as a match"
    )
    clock_skew_seconds: int = Field(
        default=300, ge=0, le=1800, description="tolerance for peers' clocks on assertion and timestamp times"
    )
    responding_require_tls_binding: bool = Field(
        default=False,
        description="`hiegate respond` refuses a request whose signing certificate and mutual-TLS client "
        "certificate differ in issuer or subject common name (off: organizations often sign with another "
        "certificate than their TLS one)",
    )
    directory_file: Path = Field(
        default=Path("var/sandbox/directory.json"),
        description="FHIR directory `hiegate directory import` reads when no file is given (JSON or XML)",
    )
    directory_url: str | None = Field(
        default=None,
        description="FHIR search URL of the network's directory (https), which `hiegate directory import "
        "--url` fetches page by page when no URL is given",
    )
    directory_auth_header: SecretStr | None = Field(
        default=None,
        description="one HTTP header, `Name: value`, sent with every directory request (an API key)",
    )
    directory_ca_file: Path | None = Field(
        default=None,
        description="CA bundle that verifies the directory server (default: the operating system's CAs)",
    )
    partners_file: Path = Field(
        default=_DEFAULT_PARTNERS_FILE,
        description="per-partner settings (TOML); the default file missing: defaults for all; a file named "
        "here that is missing: an error",
    )
    pull_max_concurrency: int = Field(
        default=256, ge=1, le=10000, description="requests in flight at once across all remote gateways"
    )
    pull_match_threshold: int = Field(
        default=85, ge=50, le=100, description="lowest score (0-100) of a remote match the pull accepts"
    )
    pull_breaker_failures: int = Field(
        default=5, ge=1, le=100, description="consecutive failed attempts that open a gateway's circuit"
    )
    pull_breaker_recovery_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="seconds an open circuit waits before one trial call"
    )
    pull_early_record: bool = Field(
        default=True,
        description="publish the record once only overdue requests remain (late answers are merged after)",
    )
    pull_overdue_factor: float = Field(
        default=1.1,
        ge=1.0,
        le=100,
        description="a request is overdue after this x the slowest answer of its kind",
    )
    pull_overdue_margin_seconds: float = Field(
        default=0.2, ge=0, le=600, description="... plus these seconds"
    )
    default_purpose_of_use: str = Field(
        default="TREATMENT", description="purpose of use of pulls (nhin-purpose code or TEFCA, e.g. T-TREAT)"
    )
    requesting_user_id: str = Field(
        default="clinician@hie-gateway.invalid",
        min_length=1,
        max_length=256,
        description="the CLI's requesting user (SAML NameID)",
    )
    requesting_user_name: str = Field(
        default="Development Clinician",
        min_length=1,
        max_length=256,
        description="the CLI's requesting user's name (XSPA subject-id)",
    )
    requesting_user_npi: str | None = Field(default=None, description="the CLI's requesting user's NPI")
    requesting_user_role: str = Field(
        default="112247003", description="SNOMED CT role code of the CLI's requesting user (physician)"
    )
    api_host: str = Field(
        default="127.0.0.1", description="address `hiegate serve` (the FHIR API) listens on"
    )
    api_port: int = Field(default=8080, ge=1, le=65535, description="port `hiegate serve` listens on")
    api_public_url: str | None = Field(
        default=None,
        description="FHIR base URL clients use (behind a proxy: the proxy's https URL); default http://HOST:PORT",
    )
    api_token_lifetime_seconds: int = Field(
        default=300, ge=30, le=3600, description="lifetime of the API's access tokens (SMART: at most 300)"
    )
    api_token_key: Path = Field(
        default=Path("var/api/token-signing-key.pem"),
        description="EC P-256 key that signs access tokens (ES256); generated on first start when absent",
    )
    api_user_source: Literal["client", "headers"] = Field(
        default="client",
        description="requesting user: from the client registration only, or also X-Requesting-User-* headers "
        "(for clients registered with --user-headers)",
    )
    api_keys_enabled: bool = Field(
        default=True, description="accept development API keys (hgk_...); turn off in production"
    )
    api_tls_cert: Path | None = Field(default=None, description="PEM certificate chain: serve HTTPS directly")
    api_tls_key: Path | None = Field(default=None, description="PEM private key of api_tls_cert")

    @field_validator("partners_file", mode="before")
    @classmethod
    def _unset_partners_file(cls, value: object) -> object:
        # An empty value (HIEGATE_PARTNERS_FILE= from a compose file's ${X:-}) means "not set", not ".".
        return _DEFAULT_PARTNERS_FILE if value == "" else value

    @property
    def partners_file_named(self) -> bool:
        """Whether ``partners_file`` names a file of the user's (a config file or HIEGATE_PARTNERS_FILE, other
        than the default): then it must be there (:func:`gateway.directory.load_partners`)."""
        return "partners_file" in self.model_fields_set and self.partners_file != _DEFAULT_PARTNERS_FILE

    @field_validator("home_community_id")
    @classmethod
    def _oid(cls, value: str) -> str:
        if not is_oid(value):
            raise ValueError("expected a bare dotted OID such as 2.16.840.1.113883.3.1 (no urn:oid: prefix)")
        return value

    @field_validator("assigning_authority", "repository_unique_id")
    @classmethod
    def _optional_oid(cls, value: str | None) -> str | None:
        if value is not None and not is_oid(value):
            raise ValueError("expected a bare dotted OID such as 2.16.840.1.113883.3.1 (no urn:oid: prefix)")
        return value

    @field_validator("default_purpose_of_use")
    @classmethod
    def _purpose(cls, value: str) -> str:
        if value.strip().upper() not in _PURPOSES:
            raise ValueError(
                "expected an nhin-purpose code such as TREATMENT or a TEFCA code such as T-TREAT"
            )
        return value.strip().upper()

    @field_validator("requesting_user_npi")
    @classmethod
    def _npi(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Imported here: gateway.security pulls in the signing stack, which only a set NPI needs to pay for.
        from gateway.security.user import is_valid_npi

        if not is_valid_npi(value):
            raise ValueError("expected a ten-digit NPI whose last digit is its Luhn check digit")
        return value

    @field_validator("requesting_user_role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]{6,18}", value):
            raise ValueError("expected a SNOMED CT code such as 112247003 (physician)")
        return value

    @field_validator("api_public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("expected an http(s) base URL without query or fragment")
        return value.rstrip("/") if value is not None else None

    @field_validator("directory_url")
    @classmethod
    def _directory_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^\s/?#@]+(/[^\s#]*)?", value):
            raise ValueError(
                "expected an https URL such as https://directory.example/fhir/Organization, without "
                "credentials (those go in directory_auth_header)"
            )
        return value

    @field_validator("directory_auth_header")
    @classmethod
    def _header(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and header_pair(value.get_secret_value()) is None:
            # The value is a secret: the message never repeats it.
            raise ValueError("expected one HTTP header as `Name: value`, e.g. `Authorization: Bearer ...`")
        return value

    @field_validator("tenant")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("expected a lower-case slug of letters, digits, '-' and '_' (at most 63)")
        return value

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("expected an SQLAlchemy URL such as sqlite:///var/hiegate.db") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("expected a sqlite:// or postgresql+psycopg:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _toml_file.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def header_pair(text: str) -> tuple[str, str] | None:
    """``"Name: value"`` as ``(name, value)``: a token name and a value without line breaks; else None."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or not value:
        return None
    if not all(ch == "\t" or " " <= ch <= "~" for ch in value):  # visible ASCII, spaces and tabs
        return None
    return name, value


def read_named_file(path: Path, *, what: str, hint: str | None = None) -> bytes:
    """The bytes of a file the user named (an argument or a setting), or :class:`PathAccessError` (HG-1002)
    naming ``what`` it is, the path, what is wrong (missing, a folder, not readable) and ``hint`` if given."""
    try:
        return path.read_bytes()
    except OSError as exc:
        problem = path_problem(exc)
        more = f"; {hint}" if hint else ""
        raise PathAccessError(f"{what} {path}: {problem}{more}", detail={"path": str(path)}) from None


def _config_file(explicit: Path | None) -> tuple[Path, str] | None:
    """The TOML file to read and how messages name it, or None for none."""
    if explicit is not None:
        return explicit, "config file"
    from_env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if from_env:
        return Path(from_env), f"{ENV_PREFIX}CONFIG file"
    return (DEFAULT_CONFIG_FILE, "config file") if DEFAULT_CONFIG_FILE.exists() else None


def load_settings(
    config_file: Path | None = None, /, *, origins: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build the effective settings, or raise one-line :class:`ConfigError` naming the bad setting.

    ``overrides`` win over every other source; ``origins`` names where each came from (``{"api_port":
    "--port"}``) so that an error names what the user typed.
    """
    found = _config_file(config_file)
    path = found[0] if found else None
    from_file: dict[str, Any] = {}
    if found is not None:
        path, what = found
        data = read_named_file(path, what=what)
        try:
            from_file = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{what} {path}: not valid TOML ({exc})", detail={"setting": "config"}
            ) from None
    token = _toml_file.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        where = _Sources(overrides, dict(origins or {}), path, from_file)
        raise _config_error(exc, where) from None
    finally:
        _toml_file.reset(token)


@dataclass(frozen=True)
class _Sources:
    """What each source held, to name a bad value the way the user wrote it."""

    overrides: Mapping[str, Any]
    origins: Mapping[str, str]
    toml_file: Path | None
    from_file: Mapping[str, Any]

    def name(self, field: str) -> str:
        """The flag, environment variable or ``key (in FILE)`` the value of ``field`` came from."""
        if field in self.overrides:
            return self.origins.get(field, field)
        env = f"{ENV_PREFIX}{field.upper()}"
        # Environment names are matched case-insensitively, as pydantic-settings reads them.
        if any(name.upper() == env for name in os.environ):
            return env
        if field in self.from_file:
            return f"{field} (in {self.toml_file})"
        return env


_URLS_WITH_SECRETS: Final = frozenset({"database_url", "directory_url"})
"""URLs that may carry a password or an API key (in the user part or the query)."""


def _is_secret(field: str) -> bool:
    """A setting whose value an error message must not repeat: a secret, or a URL that may hold a password."""
    info = Settings.model_fields.get(field)
    return field in _URLS_WITH_SECRETS or (
        info is not None and SecretStr in (info.annotation, *get_args(info.annotation))
    )


def _config_error(exc: ValidationError, where: _Sources) -> ConfigError:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    if first["type"] == "extra_forbidden":
        return ConfigError(f"{where.name(field)}: unknown setting", detail={"setting": field})
    message = str(first["msg"]).removeprefix("Value error, ")
    shown = "" if _is_secret(field) or first["type"] == "missing" else f", got {first['input']!r}"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return ConfigError(f"{where.name(field)}: {message}{shown}{more}", detail={"setting": field})


def masked_settings(settings: Settings) -> dict[str, str]:
    """Every effective setting as display text, secrets masked (passwords, the password in the DB URL, the
    directory URL's query)."""
    return {
        name: "(not set)" if value is None else str(value)
        for name, value in settings_as_json(settings).items()
    }


def settings_as_json(settings: Settings) -> dict[str, str | int | float | bool | None]:
    """Every effective setting as a JSON value (numbers, booleans, ``None`` when unset), secrets masked."""
    shown: dict[str, str | int | float | bool | None] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown[name] = "********"
        elif value is None or isinstance(value, bool | int | float):
            shown[name] = value
        elif name == "database_url":
            shown[name] = make_url(value).render_as_string(hide_password=True)
        elif name == "directory_url":
            base, query, _ = str(value).partition("?")
            shown[name] = f"{base}?***" if query else base  # a query often carries an API key
        else:
            shown[name] = str(value)
    return shown
