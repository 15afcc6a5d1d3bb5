"""The compliance audit log: who asked for which patient's records, when, why, from whom, what came back.

Every exchange, refusal, pull job and API access to patient data is one record in a per-tenant SHA-256 hash
chain, written in the caller's transaction (:class:`AuditLog`, :func:`append_event`).
:func:`verify_chain` names the first record changed, deleted or inserted; :func:`purge_before` removes old
records behind a signed checkpoint; :func:`search` and :func:`accounting_of_disclosures` answer compliance
questions; exports are FHIR AuditEvent (IHE BALP) NDJSON, ATNA XML and CSV; :class:`SyslogTlsForwarder`
forwards ATNA messages over TLS without blocking the exchange. Nothing here logs PHI.

Names are imported on first use: ``hiegate`` builds its parser from :mod:`.model` without loading the
database layer, and a module that needs one enum does not pay for the exports.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.audit.atna import atna_message, to_atna_xml, write_atna
    from gateway.audit.chain import GENESIS_HASH, AuditReceipt, append_event
    from gateway.audit.checkpoint import CheckpointSigner, CheckpointVerifier
    from gateway.audit.codec import decode_event, encode_event
    from gateway.audit.disclosures import Disclosure, DisclosureDirection, accounting_of_disclosures
    from gateway.audit.events import (
        ApiAccessEvent,
        ApiInteraction,
        AuditEvent,
        PullJobEvent,
        PullStage,
        RefusalEvent,
        RefusalReason,
        TransactionEvent,
    )
    from gateway.audit.export import export_records
    from gateway.audit.fhir import to_fhir_audit_event, write_ndjson
    from gateway.audit.model import (
        AuditSource,
        Code,
        Direction,
        DocumentRef,
        EventKind,
        ExportFormat,
        Outcome,
        PatientId,
        PatientIdRole,
        QueryParameter,
        RemotePeer,
        Requestor,
        Transaction,
    )
    from gateway.audit.retention import PurgeResult, purge_before
    from gateway.audit.search import AuditFilter, AuditPage, StoredRecord, iter_records, search
    from gateway.audit.service import AuditLog
    from gateway.audit.syslog import SyslogTlsForwarder, syslog_tls_context
    from gateway.audit.verify import BreakKind, ChainBreak, ChainVerification, verify_chain

__all__ = [
    "GENESIS_HASH",
    "ApiAccessEvent",
    "ApiInteraction",
    "AuditEvent",
    "AuditFilter",
    "AuditLog",
    "AuditPage",
    "AuditReceipt",
    "AuditSource",
    "BreakKind",
    "ChainBreak",
    "ChainVerification",
    "CheckpointSigner",
    "CheckpointVerifier",
    "Code",
    "Direction",
    "Disclosure",
    "DisclosureDirection",
    "DocumentRef",
    "EventKind",
    "ExportFormat",
    "Outcome",
    "PatientId",
    "PatientIdRole",
    "PullJobEvent",
    "PullStage",
    "PurgeResult",
    "QueryParameter",
    "RefusalEvent",
    "RefusalReason",
    "RemotePeer",
    "Requestor",
    "StoredRecord",
    "SyslogTlsForwarder",
    "Transaction",
    "TransactionEvent",
    "accounting_of_disclosures",
    "append_event",
    "atna_message",
    "decode_event",
    "encode_event",
    "export_records",
    "iter_records",
    "purge_before",
    "search",
    "syslog_tls_context",
    "to_atna_xml",
    "to_fhir_audit_event",
    "verify_chain",
    "write_atna",
    "write_ndjson",
]

# Where each name lives: the submodule is imported when one of its names is first asked for.
_EXPORTS = {
    "atna": ("atna_message", "to_atna_xml", "write_atna"),
    "chain": ("GENESIS_HASH", "AuditReceipt", "append_event"),
    "checkpoint": ("CheckpointSigner", "CheckpointVerifier"),
    "codec": ("decode_event", "encode_event"),
    "disclosures": ("Disclosure", "DisclosureDirection", "accounting_of_disclosures"),
    "events": (
        "ApiAccessEvent",
        "ApiInteraction",
        "AuditEvent",
        "PullJobEvent",
        "PullStage",
        "RefusalEvent",
        "RefusalReason",
        "TransactionEvent",
    ),
    "export": ("export_records",),
    "fhir": ("to_fhir_audit_event", "write_ndjson"),
    "model": (
        "AuditSource",
        "Code",
        "Direction",
        "DocumentRef",
        "EventKind",
        "ExportFormat",
        "Outcome",
        "PatientId",
        "PatientIdRole",
        "QueryParameter",
        "RemotePeer",
        "Requestor",
        "Transaction",
    ),
    "retention": ("PurgeResult", "purge_before"),
    "search": ("AuditFilter", "AuditPage", "StoredRecord", "iter_records", "search"),
    "service": ("AuditLog",),
    "syslog": ("SyslogTlsForwarder", "syslog_tls_context"),
    "verify": ("BreakKind", "ChainBreak", "ChainVerification", "verify_chain"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


class _Package(ModuleType):
    """This package. ``search`` names both a submodule and the function exported here: loading the submodule
    (which sets it on its package) must not hide the function, as it could not when every name was imported
    up front."""

    @property
    def search(self) -> Any:
        return __getattr__("search")

    @search.setter
    def search(self, _submodule: ModuleType) -> None:
        pass


sys.modules[__name__].__class__ = _Package
