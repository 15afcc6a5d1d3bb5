"""``hiegate certs init`` and ``hiegate certs check`` on top of the :mod:`certs` package."""

from __future__ import annotations

import sys
from pathlib import Path

from certs import check_dev_pki, init_dev_pki
from gateway.config import Settings

__all__ = ["certs_check", "certs_init"]


def _key_password(settings: Settings) -> str | None:
    return settings.key_password.get_secret_value() if settings.key_password else None


def certs_init(settings: Settings, *, directory: Path | None, force: bool) -> int:
    result = init_dev_pki(directory or settings.certs_dir, force=force, key_password=_key_password(settings))
    print(result)
    return 0


def certs_check(settings: Settings, *, directory: Path | None) -> int:
    report = check_dev_pki(directory or settings.certs_dir, key_password=_key_password(settings))
    print(report)
    if not report.ok:
        print("hiegate: certificate check failed", file=sys.stderr)
        return 1
    return 0
