"""The root of the hierarchy: every error the project raises on purpose (HG-0000)."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "HieGatewayError",
]


class HieGatewayError(Exception):
    """Root of every error the project raises on purpose.

    ``code`` is stable and machine-readable; ``message`` is one human sentence without PHI;
    ``detail`` is optional structured context (names of settings, element paths, limits).
    """

    code: ClassVar[str] = "HG-0000"

    def __init__(self, message: str, *, detail: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, object] = dict(detail or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
