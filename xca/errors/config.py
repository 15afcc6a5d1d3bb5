"""Configuration errors (HG-1xxx)."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "ConfigError",
    "PathAccessError",
]


class ConfigError(HieGatewayError, ValueError):
    """A setting has a value the gateway cannot use; ``detail['setting']`` names it."""

    code = "HG-1001"


class PathAccessError(ConfigError):
    """A file or folder named by a setting or an argument cannot be read or written; ``detail['path']``."""

    code = "HG-1002"
