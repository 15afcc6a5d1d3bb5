"""How each event is classified in the audit vocabularies, shared by the FHIR and the ATNA exports.

DICOM PS3.16 CID 400 event ids (110112 Query, 110106 Export, 110107 Import, 110110 Patient Record, 110113
Security Alert), the action codes C/R/U/D/E, and the event type (subtype) codes: the IHE transaction, the
FHIR restful interaction, or the DICOM security alert type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.audit.events import (
    ApiAccessEvent,
    ApiInteraction,
    AuditEvent,
    PullJobEvent,
    RefusalEvent,
    RefusalReason,
    TransactionEvent,
)
from gateway.audit.model import Code, Direction, Transaction

__all__ = [
    "DCM",
    "IHE_EVENT_TYPE",
    "RESTFUL_INTERACTION",
    "Action",
    "Classification",
    "classify",
]

DCM = "http://dicom.nema.org/resources/ontology/DCM"
IHE_EVENT_TYPE = "urn:ihe:event-type-code"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
PULL_STAGE = "urn:hie-gateway:audit:pull-stage"


class Action(StrEnum):
    """EventActionCode: create, read, update, delete, execute."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


_QUERY = Code(code="110112", system=DCM, display="Query")
_EXPORT = Code(code="110106", system=DCM, display="Export")
_IMPORT = Code(code="110107", system=DCM, display="Import")
_PATIENT_RECORD = Code(code="110110", system=DCM, display="Patient Record")
_SECURITY_ALERT = Code(code="110113", system=DCM, display="Security Alert")
_NODE_AUTHENTICATION = Code(code="110126", system=DCM, display="Node Authentication")
_RESTRICTED_FUNCTION = Code(code="110132", system=DCM, display="Use of Restricted Function")

_ALERT_TYPE = {
    RefusalReason.BAD_SIGNATURE: _NODE_AUTHENTICATION,
    RefusalReason.UNTRUSTED_CERTIFICATE: _NODE_AUTHENTICATION,
    RefusalReason.UNKNOWN_COMMUNITY: _NODE_AUTHENTICATION,
    RefusalReason.POLICY: _RESTRICTED_FUNCTION,
    RefusalReason.MALFORMED_MESSAGE: _RESTRICTED_FUNCTION,
}

_API = {
    ApiInteraction.READ: (_PATIENT_RECORD, Action.READ),
    ApiInteraction.VREAD: (_PATIENT_RECORD, Action.READ),
    ApiInteraction.SEARCH: (_QUERY, Action.EXECUTE),
    ApiInteraction.CREATE: (_PATIENT_RECORD, Action.CREATE),
    ApiInteraction.UPDATE: (_PATIENT_RECORD, Action.UPDATE),
    ApiInteraction.DELETE: (_PATIENT_RECORD, Action.DELETE),
    ApiInteraction.OPERATION: (_QUERY, Action.EXECUTE),
}


@dataclass(frozen=True, slots=True)
class Classification:
    """EventID, action and event type codes of one event."""

    event_id: Code
    action: Action
    event_types: tuple[Code, ...]


def transaction_code(transaction: Transaction) -> Code:
    return Code(code=transaction.value, system=IHE_EVENT_TYPE, display=transaction.display)


def classify(event: AuditEvent) -> Classification:
    if isinstance(event, TransactionEvent):
        subtype = (transaction_code(event.transaction),)
        if event.transaction is not Transaction.ITI_39:
            return Classification(_QUERY, Action.EXECUTE, subtype)
        if event.direction is Direction.INITIATING:
            return Classification(_IMPORT, Action.CREATE, subtype)
        return Classification(_EXPORT, Action.READ, subtype)
    if isinstance(event, RefusalEvent):
        types: tuple[Code, ...] = (_ALERT_TYPE[event.reason],)
        if event.transaction is not None:
            types += (transaction_code(event.transaction),)
        return Classification(_SECURITY_ALERT, Action.EXECUTE, types)
    if isinstance(event, PullJobEvent):
        stage = Code(code=event.stage.value, system=PULL_STAGE, display=f"pull job {event.stage.value}")
        return Classification(_IMPORT, Action.CREATE, (stage,))
    assert isinstance(event, ApiAccessEvent)
    event_id, action = _API[event.interaction]
    interaction = Code(
        code=event.interaction.value, system=RESTFUL_INTERACTION, display=event.interaction.value
    )
    return Classification(event_id, action, (interaction,))
