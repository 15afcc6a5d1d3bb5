"""The responding gateway: one inbound SOAP request in, one answer out, one audit record written.

Pipeline (:meth:`RespondingGateway.handle`, synchronous; the ASGI app runs it in a worker thread):

1. size limit (declared Content-Length, then the bytes read);
2. SOAP or MTOM body → hardened parse (:func:`xca.mtom.read_soap_message`) → a SOAP 1.2 envelope;
3. security verification with the mutual-TLS peer certificate (:class:`~gateway.security.MessageVerifier`);
4. the wsa:Action must be the request action of this endpoint;
5. the transaction handler (matching, document query, retrieve) inside one database transaction, which
   also writes the audit record; the response envelope relates to the request's MessageID.

A refusal at steps 1–4 (or an ITI-55 body that cannot be read) is a SOAP Fault plus one RefusalEvent; a
handled transaction, errors included, is its response plus one TransactionEvent; nothing else is stored.
An unexpected failure answers a Receiver fault without detail and is audited as a major failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from sqlalchemy.orm import object_session

from gateway.audit import (
    AuditLog,
    AuditSource,
    Direction,
    Outcome,
    RefusalEvent,
    RefusalReason,
    Transaction,
    TransactionEvent,
)
from gateway.responding.config import REQUEST_ACTIONS, RESPONSE_ACTIONS, RespondingConfig
from gateway.responding.context import Exchange, Handled, HttpReply, InboundRequest, remote_peer, requestor
from gateway.responding.iti38 import handle_iti38
from gateway.responding.iti39 import handle_iti39
from gateway.responding.iti55 import handle_iti55
from gateway.responding.refusals import (
    ActionNotSupportedError,
    http_status,
    internal_fault,
    refusal_for,
)
from gateway.security import MessageVerifier, VerifiedMessage
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant
from gateway.store.models import utcnow
from xca.errors import (
    HieGatewayError,
    MissingElementError,
    SecurityRefusedError,
    WireFormatError,
    XmlRefusedError,
    XmlTooLargeError,
)
from xca.iti39 import Transport, to_http
from xca.mtom import SoapMessage, read_soap_message
from xca.soap import CONTENT_TYPE, Addressing, build_envelope, build_fault_envelope, parse_envelope, to_bytes

__all__ = ["Handler", "RespondingGateway"]

log = logging.getLogger("gateway.responding")

Handler = Callable[[Exchange], Handled]
_HANDLERS: Final[dict[Transaction, Handler]] = {
    Transaction.ITI_55: handle_iti55,
    Transaction.ITI_38: handle_iti38,
    Transaction.ITI_39: handle_iti39,
}


def _detached(tenant: Tenant) -> Tenant:
    """``tenant`` out of its session, with ``id`` and ``slug`` readable without one."""
    session = object_session(tenant)
    if session is not None:
        session.flush()
        session.expunge(tenant)
    # Raises here (not in a request) if the attributes were expired and the session is gone.
    _ = tenant.id, tenant.slug
    return tenant


class _RefusedError(Exception):
    def __init__(
        self, error: HieGatewayError, relates_to: str | None, verified: VerifiedMessage | None
    ) -> None:
        super().__init__(error.code)
        self.error, self.relates_to, self.verified = error, relates_to, verified


class RespondingGateway:
    """One community's responding side: its config, database (tenant-scoped), verifier and audit log.

    Thread-safe: each :meth:`handle` uses its own session; the verifier's replay cache is shared per
    instance. Many instances may live in one process (one per simulated community).
    """

    def __init__(
        self,
        *,
        config: RespondingConfig,
        database: Database,
        verifier: MessageVerifier,
        audit: AuditLog | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.config = config
        self.database = database
        self.verifier = verifier
        self.audit = audit or AuditLog(
            source=AuditSource(
                source_id=config.home_community_id,
                site=config.organization_name,
                home_community_id=config.home_community_id,
            )
        )
        self._clock = clock
        self._tenant: Tenant | None = None
        self._tenant_lock = threading.Lock()

    def prepare(self, tenant: Tenant | None = None) -> RespondingGateway:
        """Find or create this gateway's tenant now, at start-up, rather than in its first request.

        ``tenant`` (loaded by the caller, e.g. in the transaction that seeded it) is used as is when its
        slug is this gateway's. Returns the gateway, so ``RespondingGateway(...).prepare()`` reads as one.
        """
        if tenant is not None and tenant.slug != self.config.tenant:
            raise ValueError(f"tenant {tenant.slug!r} is not this gateway's tenant {self.config.tenant!r}")
        with self._tenant_lock:
            if tenant is None:
                with self.database.session() as setup, setup.begin():
                    tenant = ensure_tenant(setup, self.config.tenant, self.config.organization_name)
            # Detached with its columns loaded: requests read only ``id`` and ``slug``, which never change
            # for a running gateway, so no request needs its own SELECT of the tenant row.
            self._tenant = _detached(tenant)
        return self

    @property
    def tenant(self) -> Tenant:
        """This gateway's tenant (detached; :meth:`prepare` loads it, else the first request does)."""
        tenant = self._tenant
        if tenant is None:
            tenant = self.prepare()._tenant
            assert tenant is not None
        return tenant

    def handle(self, request: InboundRequest) -> HttpReply:
        """Answer one inbound request (see the module docstring); never raises."""
        verified: VerifiedMessage | None = None
        try:
            message, relates_to = self._read(request)
            verified = self._verify(request, message, relates_to)
            return self._transact(request, message, verified)
        except _RefusedError as refused:
            return self._refuse(request, refused)
        except Exception as exc:
            log.error("%s request failed: %s", request.transaction.value, type(exc).__name__)
            return self._internal_error(request, verified, exc)

    def _read(self, request: InboundRequest) -> tuple[SoapMessage, str | None]:
        limit = self.config.max_request_bytes
        size = max(len(request.body), request.declared_length or 0)
        if size > limit:
            error = XmlTooLargeError(
                f"request of {size} bytes exceeds the limit of {limit} bytes", detail={"limit": limit}
            )
            raise _RefusedError(error, None, None)
        try:
            message = read_soap_message(request.body, request.content_type, max_bytes=limit)
            envelope = parse_envelope(message.root)
        except (XmlRefusedError, WireFormatError) as exc:
            raise _RefusedError(exc, None, None) from None
        return message, envelope.addressing.message_id

    def _verify(
        self, request: InboundRequest, message: SoapMessage, relates_to: str | None
    ) -> VerifiedMessage:
        try:
            verified = self.verifier.verify_parsed(
                message.root, tls_peer_certificate=request.peer_certificate
            )
        except SecurityRefusedError as exc:
            raise _RefusedError(exc, relates_to, None) from None
        expected = REQUEST_ACTIONS[request.transaction]
        if verified.addressing.action != expected.value:
            error = ActionNotSupportedError(
                f"this endpoint answers {expected.value} only",
                detail={"action": verified.addressing.action[:200]},
            )
            raise _RefusedError(error, relates_to, verified)
        if verified.body is None:
            raise _RefusedError(MissingElementError("the SOAP Body is empty"), relates_to, verified)
        return verified

    def _transact(
        self, request: InboundRequest, message: SoapMessage, verified: VerifiedMessage
    ) -> HttpReply:
        transaction = request.transaction
        relates_to = verified.addressing.message_id
        with self.database.session() as session, session.begin():
            tenant = self.tenant
            exchange = Exchange(
                config=self.config,
                session=session,
                tenant=tenant,
                verified=verified,
                request=request,
                now=self._clock(),
                attachments=message.attachments,
                mtom=message.mtom,
            )
            try:
                handled = _HANDLERS[transaction](exchange)
            except WireFormatError as exc:
                # Only ITI-55 lets one escape: without a readable query there is no response to build.
                raise _RefusedError(exc, relates_to, verified) from None
            envelope = build_envelope(
                handled.body, Addressing.response(RESPONSE_ACTIONS[transaction], relates_to=relates_to)
            )
            if transaction is Transaction.ITI_39:
                body, content_type = to_http(envelope, handled.attachments, transport=Transport.MTOM)
            else:
                body, content_type = to_bytes(envelope), CONTENT_TYPE
            event = replace(
                handled.event,
                latency_ms=request.elapsed_ms,
                request_bytes=len(request.body),
                response_bytes=len(body),
            )
            self.audit.record(session, tenant, event)
        return HttpReply(200, body, content_type)

    def _refuse(self, request: InboundRequest, refused: _RefusedError) -> HttpReply:
        refusal = refusal_for(refused.error)
        verified = refused.verified
        event = RefusalEvent(
            reason=refusal.reason,
            direction=Direction.RESPONDING,
            remote=remote_peer(request, verified),
            transaction=request.transaction,
            error_codes=(refused.error.code,),
            requestor=requestor(verified) if verified is not None else None,
            message_id=refused.relates_to,
            detail=refused.error.message[:500],
            local_endpoint=request.endpoint,
            request_bytes=len(request.body),
        )
        with self.database.session() as session, session.begin():
            self.audit.record(session, self.tenant, event)
        envelope = build_fault_envelope(refusal.fault, relates_to=refused.relates_to)
        return HttpReply(http_status(refusal.fault), to_bytes(envelope), CONTENT_TYPE)

    def _internal_error(
        self, request: InboundRequest, verified: VerifiedMessage | None, exc: Exception
    ) -> HttpReply:
        code = exc.code if isinstance(exc, HieGatewayError) else "HG-0000"
        try:
            with self.database.session() as session, session.begin():
                event: TransactionEvent | RefusalEvent
                if verified is not None:
                    event = TransactionEvent(
                        transaction=request.transaction,
                        direction=Direction.RESPONDING,
                        outcome=Outcome.MAJOR_FAILURE,
                        requestor=requestor(verified),
                        remote=remote_peer(request, verified),
                        error_codes=(code,),
                        message_id=verified.addressing.message_id,
                        local_endpoint=request.endpoint,
                        latency_ms=request.elapsed_ms,
                        request_bytes=len(request.body),
                    )
                else:
                    event = RefusalEvent(
                        reason=RefusalReason.MALFORMED_MESSAGE,
                        direction=Direction.RESPONDING,
                        remote=remote_peer(request),
                        transaction=request.transaction,
                        outcome=Outcome.MAJOR_FAILURE,
                        error_codes=(code,),
                        local_endpoint=request.endpoint,
                        request_bytes=len(request.body),
                    )
                self.audit.record(session, self.tenant, event)
        except Exception as audit_exc:
            log.error(
                "audit of a failed %s request failed: %s", request.transaction.value, type(audit_exc).__name__
            )
        fault = internal_fault(code)
        relates_to = verified.addressing.message_id if verified is not None else None
        return HttpReply(
            http_status(fault), to_bytes(build_fault_envelope(fault, relates_to=relates_to)), CONTENT_TYPE
        )
