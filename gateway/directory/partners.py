"""Per-partner settings, keyed by homeCommunityId, from a TOML file (``partners_file`` setting).

::

    [defaults]                       # every partner not listed below
    connect_timeout = 3.0            # seconds: TCP + TLS handshake
    read_timeout = 10.0              # seconds between bytes of the answer
    total_timeout = 20.0             # seconds for one exchange, retries included
    retrieve_batch_size = 5          # documents per ITI-39 request (1..100)
    max_attempts = 3                 # 1 = no retry; retries only after connection errors and HTTP 5xx
    max_connections = 4              # connections to this partner's gateway at once

    [partner."2.16.840.1.113883.3.9999"]
    retrieve_batch_size = 1
    signature_algorithm = "rsa-sha1" # rsa-sha256 (default), rsa-sha384, rsa-sha512, rsa-sha1
    digest_algorithm = "sha1"        # sha256 (default), sha384, sha512, sha1
    allow_sha1 = true                # SHA-1 is refused unless allowed here: sent to this partner, and
                                     # accepted from it by the responding gateway (in [defaults]: from
                                     # every partner not listed)
    header_order = ["assertion", "timestamp", "signature"]
    required_date_range_days = 1825  # the partner refuses ITI-38 without a creation-time range
    audience = "urn:oid:2.16.840.1.113883.3.9999"

A missing file means defaults for everybody. Every bad value raises :class:`~xca.errors.ConfigError` naming
the file, the table and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gateway.security import DigestAlgorithm, HeaderItem, PartnerSecurityOptions, SignatureAlgorithm
from xca.errors import ConfigError, PathAccessError, path_problem
from xca.ids import is_oid

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["PartnerSettings", "PartnersConfig", "load_partners", "parse_partners", "partners_of"]

_SIGNATURES: Final = {
    "rsa-sha256": SignatureAlgorithm.RSA_SHA256,
    "rsa-sha384": SignatureAlgorithm.RSA_SHA384,
    "rsa-sha512": SignatureAlgorithm.RSA_SHA512,
    "rsa-sha1": SignatureAlgorithm.RSA_SHA1,
}
_DIGESTS: Final = {
    "sha256": DigestAlgorithm.SHA256,
    "sha384": DigestAlgorithm.SHA384,
    "sha512": DigestAlgorithm.SHA512,
    "sha1": DigestAlgorithm.SHA1,
}
_DEFAULT_ORDER: Final = (HeaderItem.TIMESTAMP, HeaderItem.ASSERTION, HeaderItem.SIGNATURE)


@dataclass(frozen=True)
class PartnerSettings:
    """How the initiating side talks to one partner gateway."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    retrieve_batch_size: int = 5
    max_attempts: int = 3
    max_connections: int = 4
    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256
    digest_algorithm: DigestAlgorithm = DigestAlgorithm.SHA256
    allow_sha1: bool = False
    header_order: tuple[HeaderItem, ...] = _DEFAULT_ORDER
    required_date_range_days: int | None = None
    audience: str | None = None
    security: PartnerSecurityOptions = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, bool, str], ...] = (
            ("connect_timeout", 0 < self.connect_timeout <= 120, "between 0 and 120 seconds"),
            ("read_timeout", 0 < self.read_timeout <= 600, "between 0 and 600 seconds"),
            ("total_timeout", 0 < self.total_timeout <= 3600, "between 0 and 3600 seconds"),
            ("retrieve_batch_size", 1 <= self.retrieve_batch_size <= 100, "between 1 and 100"),
            ("max_attempts", 1 <= self.max_attempts <= 10, "between 1 and 10"),
            ("max_connections", 1 <= self.max_connections <= 100, "between 1 and 100"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{name} must be {expected}", detail={"setting": name})
        days = self.required_date_range_days
        if days is not None and not 1 <= days <= 36500:
            raise ConfigError(
                "required_date_range_days must be between 1 and 36500",
                detail={"setting": "required_date_range_days"},
            )
        options = PartnerSecurityOptions(
            signature_algorithm=self.signature_algorithm,
            digest_algorithm=self.digest_algorithm,
            allow_sha1=self.allow_sha1,
            header_order=self.header_order,
            audience=self.audience,
        )
        object.__setattr__(self, "security", options)


@dataclass(frozen=True)
class PartnersConfig:
    """Defaults plus per-partner overrides; :meth:`for_community` answers for any homeCommunityId."""

    defaults: PartnerSettings = field(default_factory=PartnerSettings)
    partners: Mapping[str, PartnerSettings] = field(default_factory=dict)

    def for_community(self, home_community_id: str) -> PartnerSettings:
        return self.partners.get(home_community_id, self.defaults)

    def sha1_partners(self) -> dict[str, bool]:
        """Each listed partner's ``allow_sha1``, for what the responding gateway accepts from it (the
        defaults' answer for everyone else)."""
        return {hcid: settings.allow_sha1 for hcid, settings in self.partners.items()}


def _value(where: str, key: str, raw: Any) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}.{key}: expected {expected}", detail={"setting": key})

    if key in ("connect_timeout", "read_timeout", "total_timeout"):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise bad("a number of seconds")
        return float(raw)
    if key in ("retrieve_batch_size", "max_attempts", "max_connections", "required_date_range_days"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise bad("an integer")
        return raw
    if key == "signature_algorithm":
        if raw not in _SIGNATURES:
            raise bad(" or ".join(_SIGNATURES))
        return _SIGNATURES[raw]
    if key == "digest_algorithm":
        if raw not in _DIGESTS:
            raise bad(" or ".join(_DIGESTS))
        return _DIGESTS[raw]
    if key == "allow_sha1":
        if not isinstance(raw, bool):
            raise bad("true or false")
        return raw
    if key == "header_order":
        names = {item.value for item in HeaderItem}
        if not isinstance(raw, list) or not all(isinstance(v, str) and v in names for v in raw):
            raise bad("a list of timestamp, assertion and signature")
        return tuple(HeaderItem(v) for v in raw)
    if key == "audience":
        if not isinstance(raw, str) or not raw.strip():
            raise bad("a URI")
        return raw
    raise ConfigError(f"{where}.{key}: unknown partner setting", detail={"setting": key})


def _settings(base: PartnerSettings, table: Any, where: str) -> PartnerSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of settings", detail={"setting": where})
    changes = {key: _value(where, key, raw) for key, raw in table.items()}
    init_fields = {f.name for f in fields(PartnerSettings) if f.init}
    try:
        return replace(base, **{k: v for k, v in changes.items() if k in init_fields})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", detail=exc.detail) from None


def parse_partners(text: str, *, source: str = "partners file") -> PartnersConfig:
    """Read the TOML text of a partners file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})", detail={"setting": "partners_file"}) from None
    unknown = set(data) - {"defaults", "partner"}
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"{source}: unknown table [{name}]", detail={"setting": name})
    defaults = _settings(PartnerSettings(), data.get("defaults", {}), f"{source} [defaults]")
    partners: dict[str, PartnerSettings] = {}
    table = data.get("partner", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [partner] must hold tables", detail={"setting": "partner"})
    for hcid, overrides in table.items():
        if not is_oid(hcid):
            raise ConfigError(
                f'{source}: [partner."{hcid}"] is not keyed by a bare homeCommunityId OID',
                detail={"setting": "partner"},
            )
        partners[hcid] = _settings(defaults, overrides, f'{source} [partner."{hcid}"]')
    return PartnersConfig(defaults=defaults, partners=partners)


def load_partners(path: Path | None, *, required: bool = False) -> PartnersConfig:
    """The partners file at ``path``; defaults when it is not set, or when it does not exist and was not
    named (``required=False``: the setting's default, ``partners.toml`` in the working folder). A folder, a
    file that cannot be read, or a named one that does not exist is :class:`PathAccessError` (HG-1002)
    naming it: a partner's timeouts, batch size, algorithms and date range never fall back to the defaults
    unnoticed."""
    if path is None or (not required and not path.exists()):
        return PartnersConfig()
    detail: dict[str, object] = {"setting": "partners_file", "path": str(path)}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PathAccessError(f"partners_file {path}: {path_problem(exc)}", detail=detail) from None
    except UnicodeDecodeError:
        raise ConfigError(f"partners_file {path}: not UTF-8 text", detail=detail) from None
    return parse_partners(text, source=str(path))


def partners_of(settings: Settings) -> PartnersConfig:
    """The partners file the ``partners_file`` setting names (:func:`load_partners`: required when the user
    named it, see :attr:`gateway.config.Settings.partners_file_named`)."""
    return load_partners(settings.partners_file, required=settings.partners_file_named)
