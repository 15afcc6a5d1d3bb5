"""The security header written as canonical text (:mod:`gateway.security.canonical`) against the step
functions that build it as trees: the same message, to the canonical byte, for every partner setting."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lxml import etree

from gateway.security import (
    AssertionStep,
    DigestAlgorithm,
    HeaderItem,
    IssuerConfig,
    MessageSignatureStep,
    Organization,
    OutboundSecurity,
    PartnerSecurityOptions,
    RequestingUser,
    SecuredMessage,
    SignatureAlgorithm,
)
from gateway.security.canonical import CanonicalText, mark
from gateway.security.wss import ensure_security_header
from tests.gateway.security.conftest import AUDIENCE, HOME, NOW, Pki, body_element, make_user
from xca import ns
from xca.errors import SigningError, XuaValueError
from xca.ids import Cx
from xca.ns import q
from xca.safexml import parse_xml
from xca.soap import Action, Addressing, build_envelope, to_bytes

AT = NOW + dt.timedelta(milliseconds=123)  # within the test PKI's validity, with milliseconds on the wire
PATIENT = Cx("PAT-1", "1.3.6.1.4.1.99999.2")


@pytest.fixture
def same_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``restart()`` makes uuid4 give the same sequence again: both ways of signing draw the assertion ID,
    the Timestamp ID and the Body ID in that order."""
    counter: Iterator[int] = iter(())

    def restart() -> None:
        nonlocal counter
        counter = itertools.count(1)

    def fake_uuid4() -> uuid.UUID:
        return uuid.UUID(int=next(counter))

    monkeypatch.setattr(uuid, "uuid4", fake_uuid4)
    restart()
    return restart


def _envelope(to: str = AUDIENCE) -> etree._Element:
    return build_envelope(body_element(), Addressing.request(Action.ITI39_REQUEST, to=to))


def _security(pki: Pki) -> OutboundSecurity:
    return OutboundSecurity(
        IssuerConfig("CN=hie-gateway-dev,O=hie-gateway dev", HOME), pki.signing, clock=lambda: AT
    )


def _by_steps(
    pki: Pki,
    envelope: etree._Element,
    user: RequestingUser,
    options: PartnerSecurityOptions,
    resource: Cx | None,
) -> bytes:
    assertion, signature = _security(pki).steps(user=user, options=options, now=AT, resource_id=resource)
    return to_bytes(signature(assertion(envelope)))


def _canonical(data: bytes) -> bytes:
    return etree.tostring(parse_xml(data), method="c14n", exclusive=True)


def _both(
    pki: Pki,
    restart: Callable[[], None],
    *,
    user: RequestingUser | None = None,
    options: PartnerSecurityOptions | None = None,
    resource: Cx | None = PATIENT,
    to: str = AUDIENCE,
) -> tuple[SecuredMessage, bytes, bool]:
    """The message ``secure()`` writes, the one the steps build from the same IDs and instant, and whether
    ``secure()`` itself went through the steps."""
    user = user or make_user()
    options = options or PartnerSecurityOptions()
    envelope = _envelope(to)
    twin = copy.deepcopy(envelope)
    stepped: list[bool] = []
    original = OutboundSecurity.steps

    def spy(self: OutboundSecurity, **kwargs: Any) -> tuple[AssertionStep, MessageSignatureStep]:
        stepped.append(True)
        return original(self, **kwargs)

    restart()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OutboundSecurity, "steps", spy)
        written = _security(pki).secure(envelope, user=user, options=options, resource_id=resource)
    restart()
    return written, _by_steps(pki, twin, user, options, resource), bool(stepped)


@pytest.mark.parametrize(
    "options",
    [
        PartnerSecurityOptions(),
        PartnerSecurityOptions(sign_body=False),
        PartnerSecurityOptions(
            header_order=(HeaderItem.ASSERTION, HeaderItem.SIGNATURE, HeaderItem.TIMESTAMP)
        ),
        PartnerSecurityOptions(
            signature_algorithm=SignatureAlgorithm.RSA_SHA512, digest_algorithm=DigestAlgorithm.SHA384
        ),
        PartnerSecurityOptions(
            signature_algorithm=SignatureAlgorithm.RSA_SHA1,
            digest_algorithm=DigestAlgorithm.SHA1,
            allow_sha1=True,
        ),
        PartnerSecurityOptions(
            audience="urn:oid:1.3.6.1.4.1.88888.1", timestamp_lifetime=dt.timedelta(minutes=1)
        ),
    ],
    ids=["defaults", "timestamp-only", "assertion-first", "sha512-sha384", "sha1", "audience-lifetime"],
)
def test_the_written_message_is_the_one_the_steps_build(
    pki: Pki, same_ids: Callable[[], None], options: PartnerSecurityOptions, verifier: Callable[..., object]
) -> None:
    written, built, stepped = _both(pki, same_ids, options=options)
    assert not stepped
    # The same document to the canonical byte: every value, digest and signature value alike.
    assert _canonical(written.data) == _canonical(built)
    assert written.data.count(b"SignatureValue>") == 4
    security = written.envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}")
    assert security is not None
    local = {
        "Timestamp": HeaderItem.TIMESTAMP,
        "Assertion": HeaderItem.ASSERTION,
        "Signature": HeaderItem.SIGNATURE,
    }
    assert tuple(local[etree.QName(child).localname] for child in security) == options.header_order
    if options.audience is None and not options.allow_sha1:
        policy = {} if options.sign_body else {"require_signed_body": False}
        verified = verifier(now=AT, **policy).verify(written.data)  # type: ignore[attr-defined]
        assert verified.assertion.id == written.assertion_id


def test_without_a_resource_id(pki: Pki, same_ids: Callable[[], None]) -> None:
    written, built, stepped = _both(pki, same_ids, resource=None)
    assert not stepped
    assert _canonical(written.data) == _canonical(built)
    assert b"resource-id" not in written.data


def test_values_are_escaped_as_c14n_writes_them(
    pki: Pki, same_ids: Callable[[], None], verifier: Callable[..., object]
) -> None:
    # Every character c14n escapes in text or in attributes, in values of the user, the partner's audience
    # and the message, and characters beyond ASCII.
    name = 'Dr. "Quote" & <Angle> O\'Brien, Zoë Ångström 山田 \U0001f600'
    user = make_user(name=name, organization=Organization(f"{name} Clinic", HOME))
    audience = 'https://partner.example/xca?a=1&b=<2>&c="3"&d=\t\n\rx'
    options = PartnerSecurityOptions(audience=audience)
    written, built, stepped = _both(pki, same_ids, user=user, options=options)
    assert not stepped
    assert _canonical(written.data) == _canonical(built)
    verified = verifier(now=AT, audiences=frozenset({audience})).verify(written.data)  # type: ignore[attr-defined]
    assert verified.assertion.audiences == (audience,)


def test_a_value_xml_cannot_carry_is_refused(pki: Pki) -> None:
    with pytest.raises(SigningError, match="characters XML cannot carry"):
        _security(pki).secure(_envelope(), user=make_user(), resource_id=Cx("P\x01", "1.3.6.1.4.1.99999.2"))
    # the same from the steps (a user whose values the templates cannot hold)
    with pytest.raises(SigningError, match="characters XML cannot carry"):
        _security(pki).secure(
            _envelope(),
            user=make_user(name="Private \ue000 use"),
            resource_id=Cx("P\x01", "1.3.6.1.4.1.99999.2"),
        )


@pytest.mark.parametrize("character", ["\ufffe", "\uffff", "\ud800"])
def test_a_user_value_xml_cannot_carry_is_refused_when_the_user_is_made(character: str) -> None:
    with pytest.raises(XuaValueError, match="printable text"):
        make_user(name=f"Jane {character} Doe")


@pytest.mark.parametrize(
    "name",
    [
        "Private \ue000 use",
        mark("resource"),  # a whole value that is a marker: it must not become the patient's identifier
        mark("id"),
        mark("signature"),
        mark("nothing"),
        f"{mark('audience')} and more",
    ],
    # The markers hold a per-process token: ids named by the case keep the collection the same in every
    # process (pytest-xdist workers compare theirs).
    ids=[
        "private-use",
        "resource-marker",
        "id-marker",
        "signature-marker",
        "unknown-marker",
        "marker-and-text",
    ],
)
def test_a_user_value_holding_marker_characters_is_signed_by_the_steps(
    pki: Pki, same_ids: Callable[[], None], verifier: Callable[..., object], name: str
) -> None:
    user = make_user(name=name, user_id=name)
    written, built, stepped = _both(pki, same_ids, user=user)
    assert stepped
    assert _canonical(written.data) == _canonical(built)
    verified = verifier(now=AT).verify(written.data)  # type: ignore[attr-defined]
    assert verified.assertion.name_id == name
    assert verified.assertion.claims.subject_id == name
    assert verified.assertion.claims.resource_id == PATIENT


def test_an_envelope_holding_the_header_marker_is_signed_by_the_steps(
    pki: Pki, same_ids: Callable[[], None], verifier: Callable[..., object]
) -> None:
    to = f"{AUDIENCE}?{mark('security')}"
    written, _, stepped = _both(pki, same_ids, to=to)
    assert stepped
    assert written.data.count(mark("security").encode()) == 2  # as sent: in wsa:To and the Audience
    verified = verifier(now=AT, audiences=frozenset({to})).verify(written.data)  # type: ignore[attr-defined]
    assert verified.assertion.audiences == (to,)


def test_an_envelope_with_a_security_header_already_is_signed_by_the_steps(
    pki: Pki, same_ids: Callable[[], None]
) -> None:
    envelope = _envelope()
    etree.SubElement(ensure_security_header(envelope), q(ns.WSU, "Other")).text = "kept"
    message = _security(pki).secure(envelope, user=make_user(), resource_id=PATIENT)
    security = message.envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}")
    assert security is not None
    assert [etree.QName(child).localname for child in security] == [
        "Other",
        "Timestamp",
        "Assertion",
        "Signature",
    ]


def test_canonical_text_markers_must_be_whole_values() -> None:
    with pytest.raises(ValueError, match="not a whole value"):
        CanonicalText.of(f'<a b="x{mark("v")}"></a>')
    with pytest.raises(ValueError, match="marker characters"):
        CanonicalText.of("<a>\ue000</a>")
    text = CanonicalText.of(f'<a b="{mark("v")}">{mark("v")}</a>')
    assert text.fill({"v": 'x"\n<'}) == '<a b="x&quot;&#xA;&lt;">x"\n&lt;</a>'
