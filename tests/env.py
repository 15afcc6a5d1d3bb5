"""Tests that run the CLI or load settings start from a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["isolate_settings"]


def isolate_settings(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    """No ``HIEGATE_*`` setting from the developer's or CI's environment reaches the test, and relative paths
    (``./hiegate.toml``, ``var/``) resolve in ``workdir``. ``HIEGATE_TEST_DATABASE_URL`` is not a setting
    (it selects the suite's PostgreSQL runs) and stays."""
    for name in list(os.environ):
        if name.startswith("HIEGATE_") and name != "HIEGATE_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(workdir)
