"""signxml shortcuts: references resolved as signxml resolves them; namespace context kept when verifying."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.exceptions import InvalidInput
from signxml.signer import SignatureReference, XMLSigner
from signxml.verifier import XMLVerifier

from gateway.security import IssuerConfig, OutboundSecurity, PartnerSecurityOptions
from gateway.security.dsig import IdReferenceResolver
from gateway.security.wss import SAMLID_VALUE_TYPE, add_timestamp, ensure_security_header
from tests.gateway.security.conftest import AUDIENCE, HOME, Pki, body_element, make_user
from xca import errors, ns
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope

WSU_ID = q(ns.WSU, "Id")


class _Resolver(IdReferenceResolver, XMLVerifier):
    pass


_DOCUMENTS = {
    "Id-before-ID": '<r xmlns:wsu="{wsu}"><a ID="x"/><b wsu:Id="x"/></r>',
    "ambiguous": '<r><a Id="x"/><b Id="x"/></r>',
    "ambiguous-across-namespaces": '<r xmlns:p="urn:p"><a p:Id="x"/><b Id="x"/></r>',
    "one-element-two-attributes": '<r xmlns:p="urn:p"><a p:Id="x" Id="x"/></r>',
    "xml-id": '<r><a xml:id="x"/></r>',
    "lowercase-id": '<r><a id="x"/></r>',
    "other-value": '<r><a Id="y"/></r>',
    "outside-the-subtree": '<r><s><a Id="y"/></s><t Id="x"/></r>',
    "nothing": "<r/>",
}
_URIS = ["#x", "##x", "", "#xpointer(/)", "urn:external"]


def _outcome(resolver: XMLVerifier, root: etree._Element, uri: str) -> object:
    try:
        found = resolver._resolve_reference(root, {"URI": uri})
    except InvalidInput as exc:
        return ("refused", str(exc))
    return ("found", found.getroottree().getpath(found))


@pytest.mark.parametrize("uri", _URIS)
@pytest.mark.parametrize("name", list(_DOCUMENTS))
@pytest.mark.parametrize("id_attributes", [None, ("ID",), ("ID", "Id")])
def test_reference_resolution_is_signxmls(name: str, uri: str, id_attributes: tuple[str, ...] | None) -> None:
    document = etree.fromstring(_DOCUMENTS[name].format(wsu=ns.WSU))
    root = document[0] if name == "outside-the-subtree" else document  # "//" means the whole document
    stock, ours = XMLVerifier(), _Resolver()
    if id_attributes is not None:
        stock.id_attributes = ours.id_attributes = id_attributes
    assert _outcome(ours, root, uri) == _outcome(stock, root, uri)


def _message_with_prefix_list(pki: Pki, now: dt.datetime) -> bytes:
    """A message whose holder-of-key signature was made by stock signxml with an InclusiveNamespaces prefix
    list naming ``wsa``: declared on the Envelope only, used by neither the Timestamp nor the Body."""
    security = OutboundSecurity(IssuerConfig("CN=hie-gateway-dev", HOME), pki.signing, clock=lambda: now)
    assertion_step, _ = security.steps(user=make_user(), options=PartnerSecurityOptions(), now=now)
    envelope = assertion_step(
        build_envelope(body_element(), Addressing.request(Action.ITI38_REQUEST, to=AUDIENCE))
    )
    header = ensure_security_header(envelope)
    timestamp = add_timestamp(header, created=now, lifetime=dt.timedelta(minutes=5))
    etree.cleanup_namespaces(envelope, top_nsmap={"wsu": ns.WSU}, keep_ns_prefixes=["wsu"])
    body = envelope.find(q(ns.SOAP12, "Body"))
    assert body is not None
    body.set(WSU_ID, "Body-1")
    # with the prefix list the digests cover the wsa declaration (as a receiver, which parses, sees it)
    received = etree.fromstring(etree.tostring(timestamp))
    assert b"xmlns:wsa" in etree.tostring(
        received, method="c14n", exclusive=True, inclusive_ns_prefixes=["wsa"]
    )
    assert b"xmlns:wsa" not in etree.tostring(received, method="c14n", exclusive=True)
    key_info = etree.Element(q(ns.DS, "KeyInfo"), nsmap={"ds": ns.DS})
    reference = etree.SubElement(key_info, q(ns.WSSE, "SecurityTokenReference"))
    identifier = etree.SubElement(reference, q(ns.WSSE, "KeyIdentifier"), ValueType=SAMLID_VALUE_TYPE)
    identifier.text = header.find(q(ns.SAML2, "Assertion")).get("ID")  # type: ignore[union-attr]
    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signature = signer.sign(
        envelope,
        key=pki.signing.private_key,
        reference_uri=[
            SignatureReference(URI=f"#{timestamp.get(WSU_ID)}", inclusive_ns_prefixes=["wsa"]),
            SignatureReference(URI="#Body-1", inclusive_ns_prefixes=["wsa"]),
        ],
        key_info=key_info,
    )
    header.append(signature)
    return etree.tostring(envelope)


def test_prefix_list_sees_the_envelopes_declarations(pki: Pki, verifier: Callable[..., object]) -> None:
    """The verifier reads the elements in place (no copy): namespace declarations of their ancestors must
    still reach signxml's canonicalization, or a peer's correct signature would be refused."""
    now = dt.datetime.now(dt.UTC)
    data = _message_with_prefix_list(pki, now)
    verified = verifier().verify(data)  # type: ignore[attr-defined]
    assert verified.body_signed
    # the declaration is signed: binding wsa to another namespace breaks the digests
    rebound = data.replace(ns.WSA.encode(), b"urn:example:other-addressing")
    with pytest.raises(errors.DigestMismatchError):
        verifier().verify(rebound)  # type: ignore[attr-defined]
