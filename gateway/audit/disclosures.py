"""The accounting of disclosures: every time a patient's records went to, or came from, another organization.

Built from the transaction records that name the patient and did move data (outcome success or partial
success): a responding-side exchange is a disclosure *to* the requesting organization, an initiating-side
one a pull *from* the responding community. Each entry says when, which transaction, which organization
and community, who asked, why, and which documents.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from gateway.audit.events import TransactionEvent
from gateway.audit.model import Code, Direction, EventKind, Outcome, Transaction
from gateway.audit.search import AuditFilter, iter_records
from gateway.store.models import Tenant

__all__ = ["Disclosure", "DisclosureDirection", "accounting_of_disclosures"]


class DisclosureDirection(StrEnum):
    SENT_TO = "sent-to"
    RECEIVED_FROM = "received-from"


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One line of the accounting: a patient's data crossing to or from another organization."""

    seq: int
    when: dt.datetime
    direction: DisclosureDirection
    transaction: Transaction
    remote_community: str | None
    remote_organization: str | None
    requesting_user: str
    requesting_organization: str | None
    purpose_of_use: Code | None
    document_ids: tuple[str, ...]
    outcome: Outcome


def accounting_of_disclosures(
    session: Session,
    tenant: Tenant,
    patient: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[Disclosure, ...]:
    """Disclosures of ``patient`` (``value`` or ``authority|value``), oldest first."""
    where = AuditFilter(patient=patient, kind=EventKind.TRANSACTION, since=since, until=until)
    found: list[Disclosure] = []
    for record in iter_records(session, tenant, where):
        event = record.event
        if not isinstance(event, TransactionEvent) or event.outcome > Outcome.MINOR_FAILURE:
            continue
        responding = event.direction is Direction.RESPONDING
        found.append(
            Disclosure(
                seq=record.seq,
                when=event.occurred_at or record.recorded_at,
                direction=DisclosureDirection.SENT_TO if responding else DisclosureDirection.RECEIVED_FROM,
                transaction=event.transaction,
                remote_community=event.remote.home_community_id,
                remote_organization=event.remote.organization
                or (event.requestor.organization if responding else None),
                requesting_user=event.requestor.subject_id or event.requestor.user_id,
                requesting_organization=event.requestor.organization,
                purpose_of_use=event.requestor.purpose_of_use,
                document_ids=tuple(document.unique_id for document in event.documents),
                outcome=event.outcome,
            )
        )
    return tuple(found)
