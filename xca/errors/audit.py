"""The compliance audit log (HG-8xxx)."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "AuditChainError",
    "AuditCheckpointError",
    "AuditError",
    "AuditEventError",
    "AuditQueryError",
    "AuditRetentionError",
]


class AuditError(HieGatewayError):
    code = "HG-8000"


class AuditEventError(AuditError, ValueError):
    """An audit event the log refuses to record (naive timestamp, value out of range); nothing was written."""

    code = "HG-8001"


class AuditQueryError(AuditError, ValueError):
    """A search filter, pagination cursor or export format the audit log cannot use."""

    code = "HG-8002"


class AuditChainError(AuditError):
    """The hash chain is broken; ``detail`` names the tenant, the first bad sequence number and the kind."""

    code = "HG-8003"


class AuditCheckpointError(AuditError):
    """A purge checkpoint cannot be signed (no key) or its signature does not verify."""

    code = "HG-8004"


class AuditRetentionError(AuditError):
    """A purge refused, nothing deleted: its cut-off is in the future or inside the retention period."""

    code = "HG-8005"


class AuditAnchorError(AuditError):
    """An anchor cannot be made (no signing key) or an anchor file cannot be read; nothing was checked."""

    code = "HG-8006"
