"""The compliance audit log: who asked for which patient's records, when, why, from whom, what came back.

Every exchange, refusal, pull job and API access to patient data is one record in a per-tenant SHA-256 hash
chain, written in the caller's transaction (:class:`AuditLog`, :func:`append_event`).
:func:`verify_chain` names the first record changed, deleted or inserted; :func:`purge_before` removes old
records behind a signed checkpoint; :func:`search` and :func:`accounting_of_disclosures` answer compliance
questions; exports are FHIR AuditEvent (IHE BALP) NDJSON, ATNA XML and CSV; :class:`SyslogTlsForwarder`
forwards ATNA messages over TLS without blocking the exchange. Nothing here logs PHI.
"""

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
from gateway.audit.export import ExportFormat, export_records
from gateway.audit.fhir import to_fhir_audit_event, write_ndjson
from gateway.audit.model import (
    AuditSource,
    Code,
    Direction,
    DocumentRef,
    EventKind,
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
