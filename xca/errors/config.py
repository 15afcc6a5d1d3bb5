"""Configuration errors (HG-1xxx)."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "ConfigError",
]


class ConfigError(HieGatewayError, ValueError):
    """A setting has a value the gateway cannot use; ``detail['setting']`` names it."""

    code = "HG-1001"
