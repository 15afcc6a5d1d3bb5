"""Exports of audit records: FHIR AuditEvent NDJSON, ATNA XML, and CSV for spreadsheets.

CSV cells that a spreadsheet would read as a formula (leading ``=``, ``+``, ``-``, ``@``) are prefixed with
an apostrophe: audit content comes partly from remote parties.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

from gateway.audit.atna import write_atna
from gateway.audit.events import ApiAccessEvent, PullJobEvent, RefusalEvent, TransactionEvent
from gateway.audit.fhir import write_ndjson
from gateway.audit.model import AuditSource, ExportFormat
from gateway.audit.search import StoredRecord

__all__ = ["CSV_COLUMNS", "ExportFormat", "csv_row", "export_records", "write_csv"]


CSV_COLUMNS = (
    "seq",
    "recorded_at",
    "occurred_at",
    "kind",
    "transaction",
    "direction",
    "outcome",
    "error_codes",
    "user_id",
    "subject_id",
    "npi",
    "role",
    "organization",
    "organization_id",
    "user_home_community_id",
    "purpose_of_use",
    "remote_community",
    "remote_endpoint",
    "remote_certificate_subject",
    "patients",
    "query_id",
    "query_parameters",
    "documents",
    "message_id",
    "relates_to",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "detail",
    "hash",
)


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def csv_row(record: StoredRecord) -> dict[str, str]:
    """One record as a flat row keyed by :data:`CSV_COLUMNS`."""
    event = record.event
    row: dict[str, object] = {
        "seq": record.seq,
        "recorded_at": record.recorded_at.isoformat(),
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "kind": type(event).kind.value,
        "outcome": int(event.outcome),
        "error_codes": " ".join(event.error_codes),
        "patients": ";".join(f"{p.cx} ({p.role.value})" for p in event.patients),
        "hash": record.hash,
    }
    requestor = event.requestor
    if requestor is not None:
        row |= {
            "user_id": requestor.user_id,
            "subject_id": requestor.subject_id,
            "npi": requestor.npi,
            "role": requestor.role.code if requestor.role else None,
            "organization": requestor.organization,
            "organization_id": requestor.organization_id,
            "user_home_community_id": requestor.home_community_id,
            "purpose_of_use": requestor.purpose_of_use.code if requestor.purpose_of_use else None,
        }
    if isinstance(event, TransactionEvent | RefusalEvent):
        row |= {
            "transaction": event.transaction.value if event.transaction else None,
            "direction": event.direction.value,
            "remote_community": event.remote.home_community_id,
            "remote_endpoint": event.remote.endpoint or event.remote.network_address,
            "remote_certificate_subject": event.remote.certificate_subject,
            "message_id": event.message_id,
        }
    if isinstance(event, TransactionEvent):
        row |= {
            "query_id": event.query_id,
            "query_parameters": "&".join(f"{p.name}={p.value}" for p in event.query_parameters),
            "relates_to": event.relates_to,
            "latency_ms": event.latency_ms,
            "request_bytes": event.request_bytes,
            "response_bytes": event.response_bytes,
        }
        if event.job_id:
            row["detail"] = f"job {event.job_id}"
    if isinstance(event, TransactionEvent | PullJobEvent):
        row["documents"] = ";".join(f"{d.repository_id}:{d.unique_id}" for d in event.documents)
    if isinstance(event, RefusalEvent):
        row["detail"] = event.reason.value + (f": {event.detail}" if event.detail else "")
    elif isinstance(event, PullJobEvent):
        row |= {"detail": f"job {event.job_id} {event.stage.value}", "latency_ms": event.latency_ms}
        row["remote_community"] = " ".join(event.communities)
    elif isinstance(event, ApiAccessEvent):
        target = f"{event.resource_type}/{event.resource_id}" if event.resource_id else event.resource_type
        job = f" job {event.job_id}" if event.job_id else ""
        row |= {
            "detail": f"{event.interaction.value} {target}{job} -> HTTP {event.http_status}",
            "query_parameters": event.query,
            "remote_endpoint": event.client_address,
            "message_id": event.request_id,
            "latency_ms": event.latency_ms,
            "response_bytes": event.response_bytes,
        }
    return {column: _safe(row.get(column)) for column in CSV_COLUMNS}


class _Utf8Lines:
    """What :mod:`csv` writes to: each row encoded onto the caller's binary stream as it comes.

    Not an :class:`io.TextIOWrapper`: a wrapper owns its stream and closes it when it is collected, so a write
    that failed (``hiegate audit export --format csv | head -1``) would close ``sys.stdout`` under the CLI.
    This one holds no buffer and never closes ``out``: an error reaches the caller with the stream intact.
    """

    __slots__ = ("_out",)

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write(text.encode("utf-8"))
        return len(text)


def write_csv(records: Iterable[StoredRecord], out: IO[bytes]) -> int:
    """Write a header and one row per record to the binary stream ``out`` (left open); returns how many."""
    writer = csv.DictWriter(_Utf8Lines(out), fieldnames=CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(csv_row(record))
        count += 1
    return count


def export_records(
    records: Iterable[StoredRecord], out: IO[bytes], export_format: ExportFormat, source: AuditSource
) -> int:
    """Write ``records`` to the binary stream ``out`` in ``export_format``; returns how many."""
    if export_format is ExportFormat.FHIR:
        return write_ndjson(records, out, source)
    if export_format is ExportFormat.ATNA:
        return write_atna(records, out, source)
    return write_csv(records, out)
