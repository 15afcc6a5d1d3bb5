"""Inbound verification in one place: :class:`MessageVerifier` returns a :class:`VerifiedMessage` or raises
one
:class:`~xca.errors.SecurityRefusedError` subclass whose code and ``fault_subcode`` say why.

OASIS WSS 1.1 (§5 Security header, §8 signatures, §10 Timestamp), WSS SAML Token Profile 1.1 (§3.4.2, §3.5
holder-of-key), SAML 2.0 core §2.5 (Conditions) and IHE ITI TF-2b 3.40.4.1 (XUA). Order of checks:

1. hardened parse (:func:`xca.safexml.parse_xml`: XXE, entity expansion, DTDs refused there);
2. structure: one Header, one Body, one ``wsse:Security`` with one Assertion, one Timestamp, one Signature;
   no comments or processing instructions inside the security header; no ID value used twice in the document;
3. the assertion's enveloped signature, verified on the assertion alone with its certificate after that
   certificate chained to the trust bundle; the signed element must be that assertion (same ID, the signature
   inside it) — everything afterwards reads the canonical form signxml verified, never the original tree;
   SHA-1 (in either signature) only from a community the policy allows it: the assertion's claimed
   homeCommunityId decides whether a SHA-1 signature is verified at all, and the verified claim must agree;
4. conditions, audience and XUA attributes; the holder-of-key confirmation key;
5. the message signature: KeyInfo must reference that assertion, verified with the confirmed key; the signed
   Timestamp and Body are re-found by the IDs the verified references named and must be the ones in place;
6. Timestamp window; optional TLS-peer binding; last, the replay cache (assertion ID and wsa:MessageID).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.security.dsig import (
    check_signature_algorithms,
    key_info_certificates,
    rsa_key_value,
    run_verifier,
    sha1_refused,
)
from gateway.security.options import SignatureAlgorithm
from gateway.security.replay import ReplayCache, ReplayKind
from gateway.security.trust import TrustStore
from gateway.security.verified import (
    VerificationPolicy,
    VerifiedAssertion,
    VerifiedMessage,
    VerifiedTimestamp,
)
from gateway.security.wss import SAMLID_VALUE_TYPE
from gateway.security.xua import (
    AssertionFields,
    check_conditions,
    claimed_home_community,
    parse_assertion,
    parse_xml_datetime,
)
from xca import ns
from xca.errors import (
    AssertionInvalidError,
    CommentInjectionError,
    DuplicateIdError,
    HolderOfKeyError,
    ReplayedMessageError,
    SecurityHeaderError,
    SignatureWrappingError,
    TimestampExpiredError,
    TimestampInvalidError,
    TimestampNotYetValidError,
    TlsPeerMismatchError,
    UnsignedAssertionError,
    UnsignedBodyError,
    UnsupportedKeyInfoError,
)
from xca.ns import q
from xca.safexml import parse_xml
from xca.soap import parse_envelope

__all__ = ["MessageVerifier"]

_ID_NAMES = ("ID", "Id", "id")
_WSU_ID = q(ns.WSU, "Id")
_SECURITY_LOCATION = f"./{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}/"


@dataclass(frozen=True)
class _Parts:
    header: etree._Element
    body: etree._Element
    security: etree._Element
    assertion: etree._Element
    timestamp: etree._Element
    signature: etree._Element


def _exactly_one(parent: etree._Element, tag: str, what: str) -> etree._Element:
    found = parent.findall(tag)
    if not found:
        raise SecurityHeaderError(f"the message has no {what}", detail={"element": what})
    if len(found) > 1:
        raise SecurityHeaderError(f"the message has more than one {what}", detail={"element": what})
    return found[0]


def _structure(root: etree._Element) -> _Parts:
    if root.tag != q(ns.SOAP12, "Envelope"):
        raise SecurityHeaderError("not a SOAP 1.2 envelope")
    header = _exactly_one(root, q(ns.SOAP12, "Header"), "soap:Header")
    body = _exactly_one(root, q(ns.SOAP12, "Body"), "soap:Body")
    security = _exactly_one(header, q(ns.WSSE, "Security"), "wsse:Security")
    assertions = security.findall(q(ns.SAML2, "Assertion"))
    if len(assertions) > 1:
        raise SignatureWrappingError("the security header carries more than one assertion")
    assertion = _exactly_one(security, q(ns.SAML2, "Assertion"), "saml2:Assertion")
    timestamp = _exactly_one(security, q(ns.WSU, "Timestamp"), "wsu:Timestamp")
    signatures = security.findall(q(ns.DS, "Signature"))
    if not signatures:
        raise HolderOfKeyError("the message carries no holder-of-key signature")
    if len(signatures) > 1:
        raise SecurityHeaderError("the security header carries more than one message signature")
    for node in security.iter(etree.Comment, etree.PI):
        parent = node.getparent()
        raise CommentInjectionError(
            "comments and processing instructions are not accepted in the security header",
            detail={"in": etree.QName(parent).localname if parent is not None else "?"},
        )
    return _Parts(header, body, security, assertion, timestamp, signatures[0])


def _id_map(root: etree._Element) -> dict[str, etree._Element]:
    """Every ID-like attribute value (ID, Id, id in any namespace, xml:id: what signxml resolves) → element;
    a value used twice anywhere is refused, so a reference can only ever mean one element.
    """
    ids: dict[str, etree._Element] = {}
    for element in root.iter(etree.Element):
        for name in element.attrib:
            # endswith first: a cheap filter that almost every attribute fails (xml:id ends in "}id")
            if name.endswith(_ID_NAMES) and (local := name.rpartition("}")[2]) in _ID_NAMES:
                value = element.get(name, "")
                if value in ids:
                    raise DuplicateIdError(
                        "an ID value is used by more than one element", detail={"attribute": local}
                    )
                ids[value] = element
    return ids


def _check_reference_targets(
    parts: _Parts, ids: dict[str, etree._Element], uris: tuple[str, ...]
) -> list[etree._Element]:
    """Message-signature references may name the Timestamp, the Body, a header block or the assertion, in
    their places; returns the referenced elements."""
    targets = []
    for uri in uris:
        target = ids.get(uri)
        if target is None:
            raise SignatureWrappingError("a signature reference names no element")
        targets.append(target)
        if target is parts.assertion:
            continue
        if (
            target is not parts.timestamp
            and target is not parts.body
            and target.getparent() is not parts.header
        ):
            raise SignatureWrappingError("a signature reference names an element outside its expected place")
    return targets


class _SetAside:
    """Detach the children of ``parent`` other than those in ``keep`` for the duration of a ``with`` block,
    then put them back in their places. No copy is made: they stay in the document, with their namespaces."""

    __slots__ = ("_parent", "_removed")

    def __init__(self, parent: etree._Element, keep: Collection[etree._Element]) -> None:
        self._parent = parent
        self._removed = [(i, child) for i, child in enumerate(parent) if not any(child is k for k in keep)]

    def __enter__(self) -> None:
        for _, child in self._removed:
            self._parent.remove(child)

    def __exit__(self, *exc: object) -> None:
        for index, child in self._removed:
            self._parent.insert(index, child)


def _same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a.public_key() == b.public_key()


def _common_name(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)]


class MessageVerifier:
    """Verifies inbound secured SOAP messages against a trust store, a policy and a replay cache.

    Thread-safe when the replay cache is (the in-memory one is); keep one per responder.
    """

    def __init__(
        self,
        *,
        trust: TrustStore,
        policy: VerificationPolicy,
        replay_cache: ReplayCache,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._trust = trust
        self._policy = policy
        self._replay = replay_cache
        self._clock = clock

    @property
    def policy(self) -> VerificationPolicy:
        """The rules this verifier applies."""
        return self._policy

    def verify(
        self,
        data: bytes,
        *,
        tls_peer_certificate: x509.Certificate | None = None,
        max_bytes: int | None = None,
    ) -> VerifiedMessage:
        """Parse ``data`` with the hardened parser and verify it (see the module docstring)."""
        root = parse_xml(data) if max_bytes is None else parse_xml(data, max_bytes=max_bytes)
        return self.verify_parsed(root, tls_peer_certificate=tls_peer_certificate)

    def verify_parsed(
        self, root: etree._Element, *, tls_peer_certificate: x509.Certificate | None = None
    ) -> VerifiedMessage:
        """Verify an envelope already read by :func:`xca.safexml.parse_xml` (e.g. the root part of MTOM)."""
        now = self._clock()
        policy = self._policy
        parts = _structure(root)
        ids = _id_map(root)

        # 3. the assertion's own signature, on the assertion alone
        fields, assertion_sig, signer, chain, canonical = self._verify_assertion(parts, now)
        check_conditions(fields, policy, now)
        holder = self._holder_certificate(fields, signer, now)

        # 5. the holder-of-key message signature over Timestamp (and Body); SHA-1 as the community the
        # verified assertion names is allowed it
        sha1 = policy.accepts_sha1_from(fields.claims.home_community_id)
        message_sig = check_signature_algorithms(parts.signature, allow_sha1=sha1)
        self._check_token_reference(parts.signature, fields.id)
        targets = _check_reference_targets(parts, ids, message_sig.reference_uris)
        # With exclusive c14n a digest depends on the referenced element (and, for an InclusiveNamespaces
        # prefix list, its ancestors' declarations), never on its siblings: the other header blocks (the
        # assertion, already verified and read, unless it is itself referenced; unreferenced header blocks)
        # are set aside while signxml copies and scans the document, once per reference.
        with (
            _SetAside(parts.header, keep=[parts.security, *targets]),
            _SetAside(parts.security, keep=[parts.timestamp, parts.signature, *targets]),
        ):
            results = run_verifier(
                root,
                certificate=holder,
                location=_SECURITY_LOCATION,
                allow_sha1=sha1,
                now=now,
                references=True,
            )
        signed_timestamp = signed_body = None
        for uri, result in zip(message_sig.reference_uris, results, strict=True):
            signed = result.signed_xml
            if signed is None:
                raise SignatureWrappingError("a signed reference is not an element")
            if signed.tag == q(ns.WSU, "Timestamp"):
                if uri != parts.timestamp.get(_WSU_ID) or signed.get(_WSU_ID) != uri:
                    raise SignatureWrappingError("the signed Timestamp is not the Timestamp in the header")
                signed_timestamp = signed
            elif signed.tag == q(ns.SOAP12, "Body"):
                if uri != parts.body.get(_WSU_ID) or signed.get(_WSU_ID) != uri:
                    raise SignatureWrappingError("the signed Body is not the Body of the envelope")
                signed_body = signed
        if signed_timestamp is None:
            raise SecurityHeaderError("the message signature does not cover the Timestamp")
        if signed_body is None and policy.require_signed_body:
            raise UnsignedBodyError("the message signature does not cover the soap:Body")
        timestamp = self._check_timestamp(signed_timestamp, now)

        if policy.require_signer_matches_tls_peer:
            self._check_tls_peer(signer, tls_peer_certificate)

        addressing = parse_envelope(root).addressing
        self._check_replay(fields, addressing.message_id, timestamp, now)
        body_source = signed_body if signed_body is not None else parts.body
        body = next((child for child in body_source if isinstance(child.tag, str)), None)
        assertion = VerifiedAssertion(
            id=fields.id,
            issuer=fields.issuer,
            name_id=fields.name_id,
            name_id_format=fields.name_id_format,
            issue_instant=fields.issue_instant,
            not_before=fields.not_before,
            not_on_or_after=fields.not_on_or_after,
            audiences=tuple(a for audiences in fields.audience_sets for a in audiences),
            authn_instant=fields.authn_instant,
            authn_context=fields.authn_context,
            claims=fields.claims,
            signing_certificate=signer,
            holder_certificate=holder,
            signature_algorithm=assertion_sig,
            element=canonical,
        )
        return VerifiedMessage(
            assertion=assertion,
            timestamp=timestamp,
            body=body,
            body_signed=signed_body is not None,
            addressing=addressing,
            signature_algorithm=message_sig.algorithm,
            chain=chain,
            tls_peer_certificate=tls_peer_certificate,
        )

    def _verify_assertion(
        self, parts: _Parts, now: dt.datetime
    ) -> tuple[
        AssertionFields, SignatureAlgorithm, x509.Certificate, tuple[x509.Certificate, ...], etree._Element
    ]:
        assertion = parts.assertion
        signatures = assertion.findall(q(ns.DS, "Signature"))
        if not signatures:
            raise UnsignedAssertionError("the SAML assertion is not signed")
        if len(signatures) > 1:
            raise AssertionInvalidError("the SAML assertion carries more than one signature")
        policy = self._policy
        checked = check_signature_algorithms(signatures[0], allow_sha1=policy.sha1_possible)
        # SHA-1 only for a community allowed it: the one the assertion claims, read here before verification
        # decides whether the SHA-1 signature is verified at all, and read again from the verified assertion
        # below, which must claim an allowed community too.
        sha1 = checked.uses_sha1 and policy.accepts_sha1_from(claimed_home_community(assertion))
        if checked.uses_sha1 and not sha1:
            raise sha1_refused()
        assertion_id = assertion.get("ID")
        if not assertion_id or checked.reference_uris != (assertion_id,):
            raise SignatureWrappingError("the assertion signature does not sign this assertion")
        leaf, intermediates = key_info_certificates(signatures[0].find(q(ns.DS, "KeyInfo")))
        chain = self._trust.validate(leaf, intermediates=intermediates, now=now)
        (result,) = run_verifier(
            assertion,
            certificate=leaf,
            location="./",
            allow_sha1=sha1,
            now=now,
            references=1,
            # the assertion's ID is unique in the whole message (checked above) and named by SAML's ID
            id_attribute="ID",
        )
        canonical = result.signed_xml
        if (
            canonical is None
            or canonical.tag != q(ns.SAML2, "Assertion")
            or canonical.get("ID") != assertion_id
        ):
            raise SignatureWrappingError("the signed element is not the assertion in the security header")
        fields = parse_assertion(canonical, policy)
        if sha1 and not policy.accepts_sha1_from(fields.claims.home_community_id):
            raise sha1_refused()
        return fields, checked.algorithm, leaf, chain, canonical

    def _holder_certificate(
        self, fields: AssertionFields, signer: x509.Certificate, now: dt.datetime
    ) -> x509.Certificate:
        key_info = fields.holder_key_info
        if key_info.find(f"{q(ns.DS, 'X509Data')}/{q(ns.DS, 'X509Certificate')}") is not None:
            holder, intermediates = key_info_certificates(key_info)
            # usually the signer's own certificate: equal certificates (same DER) have the same key
            if holder != signer and not _same_key(holder, signer):
                self._trust.validate(holder, intermediates=intermediates, now=now)
            return holder
        numbers = rsa_key_value(key_info)
        public = signer.public_key()
        if (
            numbers is not None
            and isinstance(public, rsa.RSAPublicKey)
            and public.public_numbers() == numbers
        ):
            return signer
        raise UnsupportedKeyInfoError("the confirmed key is neither a certificate nor the signer's RSA key")

    @staticmethod
    def _check_token_reference(signature: etree._Element, assertion_id: str) -> None:
        reference = signature.find(f"{q(ns.DS, 'KeyInfo')}/{q(ns.WSSE, 'SecurityTokenReference')}")
        if reference is None:
            raise HolderOfKeyError("the message signature's KeyInfo does not reference the assertion")
        identifier = reference.find(q(ns.WSSE, "KeyIdentifier"))
        direct = reference.find(q(ns.WSSE, "Reference"))
        if identifier is not None and identifier.get("ValueType") == SAMLID_VALUE_TYPE:
            named = (identifier.text or "").strip()
        elif direct is not None and (direct.get("URI") or "").startswith("#"):
            named = (direct.get("URI") or "")[1:]
        else:
            raise HolderOfKeyError("the message signature's token reference is not a SAML assertion ID")
        if named != assertion_id:
            raise HolderOfKeyError("the message signature references another assertion")

    def _check_timestamp(self, signed: etree._Element, now: dt.datetime) -> VerifiedTimestamp:
        policy = self._policy
        try:
            created = parse_xml_datetime(signed.findtext(q(ns.WSU, "Created")), "Created")
            expires_text = signed.findtext(q(ns.WSU, "Expires"))
            expires = parse_xml_datetime(expires_text, "Expires") if expires_text is not None else None
        except AssertionInvalidError as exc:
            raise TimestampInvalidError("the Timestamp is malformed", detail=exc.detail) from None
        if expires is not None and (expires <= created or expires - created > policy.max_timestamp_lifetime):
            raise TimestampInvalidError("the Timestamp lifetime is empty or too long")
        if created > now + policy.clock_skew:
            raise TimestampNotYetValidError("the Timestamp was created in the future")
        deadline = expires if expires is not None else created + policy.timestamp_max_age
        if now - policy.clock_skew >= deadline:
            raise TimestampExpiredError("the message has expired", detail={"expires": deadline.isoformat()})
        return VerifiedTimestamp(id=signed.get(_WSU_ID, ""), created=created, expires=expires)

    @staticmethod
    def _check_tls_peer(signer: x509.Certificate, peer: x509.Certificate | None) -> None:
        if peer is None:
            raise TlsPeerMismatchError("no verified TLS client certificate to bind the signer to")
        if peer.issuer != signer.issuer or _common_name(peer.subject) != _common_name(signer.subject):
            raise TlsPeerMismatchError("the signer is not the mutual-TLS peer")

    def _check_replay(
        self, fields: AssertionFields, message_id: str | None, timestamp: VerifiedTimestamp, now: dt.datetime
    ) -> None:
        keys = [(ReplayKind.ASSERTION, fields.id)]
        if message_id:
            keys.append((ReplayKind.MESSAGE, message_id))
        ts_end = timestamp.expires or timestamp.created + self._policy.timestamp_max_age
        until = max(fields.not_on_or_after, ts_end) + self._policy.clock_skew
        seen = self._replay.check_and_store(keys, until=until, now=now)
        if seen is not None:
            raise ReplayedMessageError(
                "the message or its assertion was already received", detail={"kind": seen[0].value}
            )
