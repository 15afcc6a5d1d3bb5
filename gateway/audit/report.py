"""Text and JSON renderings of verification results, search pages, disclosures and purges for the CLI."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

import orjson

from gateway.audit.codec import encode_event, format_time
from gateway.audit.disclosures import Disclosure
from gateway.audit.events import PullJobEvent, RefusalEvent, TransactionEvent
from gateway.audit.retention import PurgeResult
from gateway.audit.search import AuditPage, StoredRecord
from gateway.audit.verify import ChainVerification

__all__ = ["print_disclosures", "print_page", "purge_line", "verification_line"]


def anchors_matching(count: int, what: str = "") -> str:
    """``1 anchor matches``, ``2 earlier anchors match``."""
    return f"{count} {what}{'anchor matches' if count == 1 else 'anchors match'}"


def verification_line(result: ChainVerification, seconds: float, *, anchored: bool = False) -> str:
    """One tenant's result; ``anchored``: anchors were given, so a tenant without any is said to have none."""
    checkpoints = f", from checkpoint ({result.checkpoints} purges)" if result.checkpoints else ""
    if result.anchors or result.anchors_purged:
        purged = f", {result.anchors_purged} on purged records" if result.anchors_purged else ""
        checkpoints += f", {anchors_matching(result.anchors)}{purged}"
    elif anchored:
        checkpoints += ", no anchor for this tenant in the file"
    if result.broken is not None:
        found = result.broken
        return f"tenant {result.tenant}: BROKEN at record {found.seq}: {found.kind.value}: {found.message}"
    if not result.records:
        return f"tenant {result.tenant}: OK, no records{checkpoints}"
    rate = result.records / seconds if seconds > 0 else float("inf")
    return (
        f"tenant {result.tenant}: OK, {result.records} records (seq {result.first_seq}..{result.last_seq})"
        f"{checkpoints}, verified in {seconds:.3f}s ({rate:,.0f} records/s)"
    )


def _communities(communities: Sequence[str]) -> str:
    if len(communities) > 1:
        return f"{len(communities)} communities"
    return communities[0] if communities else "-"


def _summary(record: StoredRecord) -> tuple[str, ...]:
    event = record.event
    what = "-"
    remote = "-"
    if isinstance(event, TransactionEvent):
        what = f"{event.transaction.value} {event.direction.value}"
        remote = event.remote.home_community_id or event.remote.endpoint or "-"
    elif isinstance(event, RefusalEvent):
        what = f"refusal {event.reason.value}"
        remote = event.remote.home_community_id or event.remote.network_address or "-"
    elif isinstance(event, PullJobEvent):
        what = f"pull {event.stage.value}"
        # A pull asks up to hundreds of communities: the table names one, or counts them (--json lists all).
        remote = _communities(event.communities)
    else:
        what = f"api {event.interaction.value} {event.resource_type}"
    user = event.requestor.user_id if event.requestor else "-"
    patients = ",".join(patient.cx for patient in event.patients) or "-"
    return (
        str(record.seq),
        format_time(record.recorded_at),
        what,
        str(int(event.outcome)),
        user,
        remote,
        patients,
    )


def print_page(page: AuditPage, *, as_json: bool) -> None:
    if as_json:
        body = {
            "records": [
                {
                    "seq": r.seq,
                    "recorded_at": format_time(r.recorded_at),
                    "hash": r.hash,
                    **encode_event(r.event),
                }
                for r in page.records
            ],
            "next_cursor": page.next_cursor,
        }
        sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    rows: list[tuple[str, ...]] = [("SEQ", "RECORDED", "EVENT", "OUTCOME", "USER", "REMOTE", "PATIENTS")]
    rows += [_summary(record) for record in page.records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print(
        f"{len(page.records)} records"
        + (f"; next page: --cursor {page.next_cursor}" if page.next_cursor else "")
    )


def print_disclosures(patient: str, found: tuple[Disclosure, ...], *, as_json: bool) -> None:
    if as_json:
        items = [
            {
                "seq": d.seq,
                "when": format_time(d.when),
                "direction": d.direction.value,
                "transaction": d.transaction.value,
                "remote_community": d.remote_community,
                "remote_organization": d.remote_organization,
                "requesting_user": d.requesting_user,
                "requesting_organization": d.requesting_organization,
                "purpose_of_use": d.purpose_of_use.code if d.purpose_of_use else None,
                "documents": list(d.document_ids),
                "outcome": int(d.outcome),
            }
            for d in found
        ]
        sys.stdout.write(
            orjson.dumps({"patient": patient, "disclosures": items}, option=orjson.OPT_INDENT_2).decode()
        )
        sys.stdout.write("\n")
        return
    print(f"Accounting of disclosures for patient {patient}: {len(found)} entries")
    for d in found:
        purpose = d.purpose_of_use.code if d.purpose_of_use else "-"
        organization = d.remote_organization or d.remote_community or "-"
        documents = f", documents {', '.join(d.document_ids)}" if d.document_ids else ""
        print(
            f"  {format_time(d.when)}  {d.transaction.value}  {d.direction.value} {organization}"
            f" (community {d.remote_community or '-'}) by {d.requesting_user}, purpose {purpose}{documents}"
        )


def purge_line(result: PurgeResult, before: dt.datetime) -> str:
    if not result.purged:
        return f"tenant {result.tenant}: nothing recorded before {format_time(before)}"
    return (
        f"tenant {result.tenant}: purged {result.purged} records (seq {result.first_seq}..{result.last_seq}) "
        f"recorded before {format_time(before)}; signed checkpoint ends at hash {result.last_hash}"
    )
