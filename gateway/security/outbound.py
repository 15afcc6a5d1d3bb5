"""The outgoing chain: body → envelope + WS-Addressing → SAML assertion → WS-Security signature.

Each step takes an envelope and returns it (CONVENTIONS 3), so each is tested alone. :class:`OutboundSecurity`
signs a message once and returns a :class:`SecuredMessage` whose bytes are what every retry sends again (sign
once per message, never per retry). It writes the security header as canonical text
(:mod:`gateway.security.canonical`: templates made by the same builders, the same signatures, about a third of
the XML work of building the trees); the two steps remain the composable form, used where a message is made
differently (tests, attacks) and for an envelope whose header the templates cannot hold. IHE ITI TF-2b 3.40
(XUA); OASIS WSS 1.1 SAML Token Profile.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from gateway.security.canonical import not_xml_error, write_security_header
from gateway.security.options import IssuerConfig, PartnerSecurityOptions, SigningIdentity
from gateway.security.saml import AssertionInput, build_assertion, new_assertion_id
from gateway.security.user import RequestingUser
from gateway.security.wss import ensure_security_header, sign_assertion, sign_message
from xca import ns
from xca.errors import HieGatewayError, SigningError, XuaValueError
from xca.ids import Cx
from xca.ns import q
from xca.safexml import DEFAULT_MAX_BYTES, parse_xml
from xca.soap import Addressing, build_envelope, to_bytes

__all__ = [
    "AssertionStep",
    "EnvelopeStep",
    "MessageSignatureStep",
    "OutboundSecurity",
    "SecuredMessage",
    "secure_request",
]

EnvelopeStep = Callable[[etree._Element], etree._Element]
"""One link of the outgoing chain: takes an envelope, returns it (changed in place or replaced)."""


_DEFAULT_OPTIONS = PartnerSecurityOptions()  # frozen: one instance serves every call without options


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@functools.lru_cache(maxsize=16)
def _der(certificate: x509.Certificate) -> bytes:
    # the holder certificate goes into every assertion: encode it once per certificate
    return certificate.public_bytes(Encoding.DER)


def _audience(options: PartnerSecurityOptions, envelope: etree._Element) -> str:
    """The partner's audience, else the message's ``wsa:To``."""
    to = envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSA, 'To')}")
    audience = options.audience or (to.text.strip() if to is not None and to.text else None)
    if not audience:
        raise XuaValueError(
            "no audience: set it for the partner or address the message (wsa:To)",
            detail={"field": "audience"},
        )
    return audience


@dataclass(frozen=True)
class AssertionStep:
    """Adds the signed XUA assertion to ``wsse:Security``; audience is the partner's, else ``wsa:To``."""

    user: RequestingUser
    issuer: IssuerConfig
    identity: SigningIdentity
    options: PartnerSecurityOptions
    now: dt.datetime
    resource_id: Cx | None = None
    assertion_id: str = field(default_factory=new_assertion_id)

    def __call__(self, envelope: etree._Element) -> etree._Element:
        audience = _audience(self.options, envelope)
        spec = AssertionInput(
            issuer=self.issuer,
            audience=audience,
            issue_instant=self.now,
            lifetime=self.options.assertion_lifetime,
            holder_certificate_der=_der(self.identity.certificate),
            resource_id=self.resource_id,
            assertion_id=self.assertion_id,
        )
        signed = sign_assertion(
            build_assertion(self.user, spec), identity=self.identity, options=self.options
        )
        ensure_security_header(envelope).append(signed)
        return envelope


@dataclass(frozen=True)
class MessageSignatureStep:
    """Adds the Timestamp and the holder-of-key signature over it (and the Body)."""

    identity: SigningIdentity
    options: PartnerSecurityOptions
    now: dt.datetime

    def __call__(self, envelope: etree._Element) -> etree._Element:
        return sign_message(envelope, identity=self.identity, options=self.options, now=self.now)


@dataclass(frozen=True)
class SecuredMessage:
    """A signed request's wire bytes; retries send ``data`` again rather than signing anew."""

    data: bytes = field(repr=False)
    assertion_id: str
    message_id: str | None
    expires: dt.datetime

    @functools.cached_property
    def envelope(self) -> etree._Element:
        """The message as sent, parsed (by the hardened parser, without its size limit: these bytes are
        ours) when asked for."""
        return parse_xml(self.data, max_bytes=max(len(self.data), DEFAULT_MAX_BYTES))


@dataclass(frozen=True)
class OutboundSecurity:
    """The gateway's outbound message security: its issuer settings, its signing identity and a clock."""

    issuer: IssuerConfig
    identity: SigningIdentity
    clock: Callable[[], dt.datetime] = _utc_now

    def steps(
        self,
        *,
        user: RequestingUser,
        options: PartnerSecurityOptions,
        now: dt.datetime,
        resource_id: Cx | None = None,
    ) -> tuple[AssertionStep, MessageSignatureStep]:
        """The two security steps for one message, sharing one instant."""
        return (
            AssertionStep(user, self.issuer, self.identity, options, now, resource_id),
            MessageSignatureStep(self.identity, options, now),
        )

    def secure(
        self,
        envelope: etree._Element,
        *,
        user: RequestingUser,
        options: PartnerSecurityOptions | None = None,
        resource_id: Cx | None = None,
    ) -> SecuredMessage:
        """Sign ``envelope`` for ``user``: the signed assertion, the Timestamp and the message signature in
        its ``wsse:Security`` header, serialized once. The security header is written as canonical text
        (:mod:`gateway.security.canonical`), so ``envelope`` itself only gains an empty ``wsse:Security`` and
        the Body's ``wsu:Id``: the message is :attr:`SecuredMessage.data` (parsed: ``.envelope``). An envelope
        whose security header holds something already, or a user whose values the templates cannot hold,
        goes through the two steps (:meth:`steps`) instead, with the same signatures."""
        partner = options or _DEFAULT_OPTIONS
        now = self.clock()
        if now.tzinfo is None:
            raise SigningError("the clock must return timezone-aware datetimes")
        message_id = envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSA, 'MessageID')}")
        security = ensure_security_header(envelope)
        written = None
        if not len(security) and not security.text:
            written = write_security_header(
                envelope,
                security,
                user=user,
                issuer=self.issuer,
                identity=self.identity,
                holder_certificate_der=_der(self.identity.certificate),
                audience=_audience(partner, envelope),
                options=partner,
                now=now,
                resource_id=resource_id,
            )
        if written is None:
            assertion_step, signature_step = self.steps(
                user=user, options=partner, now=now, resource_id=resource_id
            )
            try:
                data = to_bytes(signature_step(assertion_step(envelope)))
            except ValueError as exc:
                if isinstance(exc, HieGatewayError):
                    raise
                # lxml refusing a character XML cannot carry (a patient identifier from a remote gateway)
                raise not_xml_error() from exc
            assertion_id = assertion_step.assertion_id
        else:
            data, assertion_id = written
        return SecuredMessage(
            data=data,
            assertion_id=assertion_id,
            message_id=message_id.text if message_id is not None else None,
            expires=now + min(partner.assertion_lifetime, partner.timestamp_lifetime),
        )


def secure_request(
    body: etree._Element,
    addressing: Addressing,
    *,
    security: OutboundSecurity,
    user: RequestingUser,
    options: PartnerSecurityOptions | None = None,
    resource_id: Cx | None = None,
) -> SecuredMessage:
    """The whole chain for one request: envelope + WS-Addressing (:func:`xca.soap.build_envelope`), then
    :meth:`OutboundSecurity.secure`."""
    return security.secure(
        build_envelope(body, addressing), user=user, options=options, resource_id=resource_id
    )
