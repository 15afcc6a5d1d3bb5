"""Outbound: the requesting-user model, the options, each step alone, and a full round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from lxml import etree

from gateway.security import (
    HeaderItem,
    IssuerConfig,
    OutboundSecurity,
    PartnerSecurityOptions,
    Role,
    SignatureAlgorithm,
    TefcaPurpose,
    XuaAttribute,
    is_valid_npi,
)
from gateway.security.vocab import NHIN_PURPOSE_SYSTEM, SNOMED_SYSTEM, TEFCA_PURPOSE_SYSTEM
from tests.gateway.security.conftest import (
    AUDIENCE,
    HOME,
    Pki,
    Signer,
    assertion_spec,
    body_element,
    make_user,
)
from xca import errors, ns
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope


@pytest.mark.parametrize(
    ("npi", "valid"), [("1234567893", True), ("1234567890", False), ("123456789", False)]
)
def test_npi_luhn_with_80840_prefix(npi: str, valid: bool) -> None:
    assert is_valid_npi(npi) is valid


@pytest.mark.parametrize(
    "changes",
    [
        {"npi": "1234567890"},
        {"name": ""},
        {"name": "Dr\x00Evil"},
        {"grantor": "not-an-oid"},
        {"purpose_of_use": "TREATMENT"},
    ],
    ids=["npi", "empty-name", "control-char", "grantor", "purpose-str"],
)
def test_user_values_are_validated_before_sending(changes: dict[str, object]) -> None:
    with pytest.raises(errors.XuaValueError) as caught:
        make_user(**changes)
    assert "field" in caught.value.detail
    assert "Evil" not in str(caught.value)


def test_role_must_be_a_known_snomed_code() -> None:
    assert Role.nurse().coded.code_system == SNOMED_SYSTEM
    with pytest.raises(errors.XuaValueError):
        Role("999999")


def test_sha1_only_with_explicit_opt_in() -> None:
    with pytest.raises(errors.ConfigError):
        PartnerSecurityOptions(signature_algorithm=SignatureAlgorithm.RSA_SHA1)
    PartnerSecurityOptions(signature_algorithm=SignatureAlgorithm.RSA_SHA1, allow_sha1=True)


def test_header_order_must_be_a_permutation() -> None:
    with pytest.raises(errors.ConfigError):
        PartnerSecurityOptions(
            header_order=(HeaderItem.TIMESTAMP, HeaderItem.TIMESTAMP, HeaderItem.SIGNATURE)
        )


def _envelope() -> etree._Element:
    return build_envelope(body_element(), Addressing.request(Action.ITI38_REQUEST, to=AUDIENCE))


def _steps(
    pki: Pki, **option_changes: object
) -> tuple[Callable[..., etree._Element], Callable[..., etree._Element]]:
    security = OutboundSecurity(IssuerConfig("CN=hie-gateway-dev", HOME), pki.signing)
    return security.steps(
        user=make_user(purpose_of_use=TefcaPurpose.TREATMENT, grantor="1.3.6.1.4.1.77"),
        options=PartnerSecurityOptions(**option_changes),  # type: ignore[arg-type]
        now=dt.datetime.now(dt.UTC),
    )


def test_assertion_step_alone(pki: Pki) -> None:
    assertion_step, _ = _steps(pki)
    envelope = assertion_step(_envelope())
    security = envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}")
    assert security is not None
    assert security.get(q(ns.SOAP12, "mustUnderstand")) == "true"
    assertion = security.find(q(ns.SAML2, "Assertion"))
    assert assertion is not None
    children = [etree.QName(c).localname for c in assertion]
    assert children == [
        "Issuer",
        "Signature",
        "Subject",
        "Conditions",
        "AuthnStatement",
        "AttributeStatement",
    ]
    names = {a.get("Name") for a in assertion.iter(q(ns.SAML2, "Attribute"))}
    assert names == {a.value for a in XuaAttribute} - {XuaAttribute.RESOURCE_ID.value}
    purpose = assertion.find(f".//{q(ns.HL7V3, 'PurposeOfUse')}")
    assert purpose is not None
    assert (purpose.get("code"), purpose.get("codeSystem")) == ("T-TREAT", TEFCA_PURPOSE_SYSTEM)
    confirmation = assertion.find(f".//{q(ns.SAML2, 'SubjectConfirmation')}")
    assert confirmation is not None
    assert confirmation.get("Method", "").endswith(":holder-of-key")
    audience = assertion.find(f".//{q(ns.SAML2, 'Audience')}")
    assert audience is not None
    assert audience.text == AUDIENCE
    assert security.find(q(ns.DS, "Signature")) is None


def test_signature_step_needs_the_assertion_first(pki: Pki) -> None:
    _, signature_step = _steps(pki)
    with pytest.raises(errors.SigningError):
        signature_step(_envelope())


@pytest.mark.parametrize(
    "order",
    [
        (HeaderItem.TIMESTAMP, HeaderItem.ASSERTION, HeaderItem.SIGNATURE),
        (HeaderItem.ASSERTION, HeaderItem.SIGNATURE, HeaderItem.TIMESTAMP),
    ],
)
def test_header_order_and_round_trip(
    pki: Pki, order: tuple[HeaderItem, ...], verifier: Callable[..., object]
) -> None:
    assertion_step, signature_step = _steps(pki, header_order=order)
    envelope = signature_step(assertion_step(_envelope()))
    security = envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}")
    local = {
        "Timestamp": HeaderItem.TIMESTAMP,
        "Assertion": HeaderItem.ASSERTION,
        "Signature": HeaderItem.SIGNATURE,
    }
    assert tuple(local[etree.QName(c).localname] for c in security) == order  # type: ignore[union-attr]
    verified = verifier().verify(etree.tostring(envelope))  # type: ignore[attr-defined]
    assert verified.assertion.claims.purpose is TefcaPurpose.TREATMENT
    assert verified.assertion.claims.grantor == "1.3.6.1.4.1.77"


def test_secured_message_is_signed_once(sign: Signer, verifier: Callable[..., object]) -> None:
    data = sign()
    assert data.count(b"<ds:SignatureValue>") == 2
    verified = verifier().verify(data)  # type: ignore[attr-defined]
    claims = verified.assertion.claims
    assert (claims.subject_id, claims.npi, claims.home_community_id) == (
        "Dr. Jane Testdoctor",
        "1234567893",
        HOME,
    )
    assert claims.purpose_of_use.code_system == NHIN_PURPOSE_SYSTEM
    assert claims.resource_id.id == "PAT-1"
    assert verified.body_signed
    assert verified.body is not None
    assert etree.QName(verified.body).localname == "RetrieveDocumentSetRequest"
    assert verified.signing_certificate == verified.assertion.holder_certificate


def _attribute_text(assertion: etree._Element, name: XuaAttribute) -> str | None:
    for attribute in assertion.iter(q(ns.SAML2, "Attribute")):
        if attribute.get("Name") == name.value:
            return attribute.findtext(q(ns.SAML2, "AttributeValue"))
    return None


def test_assertions_from_one_template_keep_their_own_values(pki: Pki) -> None:
    """Assertions are copied from a template per user, issuer and certificate; each copy gets its own ID,
    instants, audience and resource-id, and nothing set on one reaches the template or the next."""
    from dataclasses import replace

    from gateway.security.saml import build_assertion
    from xca.ids import Cx

    at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    spec = assertion_spec(pki, at, assertion_id="_first")
    first = build_assertion(make_user(), spec)
    first_bytes = etree.tostring(first)
    assert build_assertion(make_user(), spec) is not first
    assert etree.tostring(build_assertion(make_user(), spec)) == first_bytes
    first.find(f".//{q(ns.SAML2, 'NameID')}").text = "mallory@evil.example"  # type: ignore[union-attr]

    later = at + dt.timedelta(hours=1)
    second = build_assertion(
        make_user(),
        replace(spec, issue_instant=later, resource_id=Cx("PAT-2", "1.3.6.1.4.1.99999.2"), assertion_id="_2"),
    )
    assert list(second.attrib) == ["ID", "IssueInstant", "Version"]
    assert (second.get("ID"), second.get("IssueInstant")) == ("_2", "2024-05-01T13:00:00.000Z")
    conditions = second.find(q(ns.SAML2, "Conditions"))
    assert conditions is not None
    assert (conditions.get("NotBefore"), conditions.get("NotOnOrAfter")) == (
        "2024-05-01T13:00:00.000Z",
        "2024-05-01T13:05:00.000Z",
    )
    authn = second.find(q(ns.SAML2, "AuthnStatement"))
    assert authn is not None
    assert authn.get("AuthnInstant") == "2024-05-01T13:00:00.000Z"
    assert second.findtext(f".//{q(ns.SAML2, 'NameID')}") == "jdoe@clinic.example"
    assert _attribute_text(second, XuaAttribute.RESOURCE_ID) == "PAT-2^^^&1.3.6.1.4.1.99999.2&ISO"

    other_user = build_assertion(
        make_user(name="Dr. Other Person", npi=None), replace(spec, resource_id=None)
    )
    assert _attribute_text(other_user, XuaAttribute.SUBJECT_ID) == "Dr. Other Person"
    assert _attribute_text(other_user, XuaAttribute.RESOURCE_ID) is None
    assert _attribute_text(other_user, XuaAttribute.NPI) is None
    other_partner = build_assertion(make_user(), replace(spec, audience="https://other.example/xca"))
    assert other_partner.findtext(f".//{q(ns.SAML2, 'Audience')}") == "https://other.example/xca"
    assert _attribute_text(other_partner, XuaAttribute.RESOURCE_ID) == "PAT-1^^^&1.3.6.1.4.1.99999.2&ISO"
    assert etree.tostring(build_assertion(make_user(), spec)) == first_bytes  # the first partner's again


def test_signing_from_several_threads(sign: Signer, verifier: Callable[..., object]) -> None:
    """Signers and the assertion and header templates are per thread: concurrent signing still verifies."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        messages = list(pool.map(lambda _: sign(), range(16)))
    check = verifier()
    with ThreadPoolExecutor(max_workers=4) as pool:
        verified = list(pool.map(check.verify, messages))  # type: ignore[attr-defined]
    assert len({v.assertion.id for v in verified}) == 16


def test_instants_on_the_wire_are_utc_milliseconds_with_z() -> None:
    """xs:dateTime as SAML core §1.3.3 asks: UTC, ``Z``, milliseconds; a four-digit year even before 1000."""
    from gateway.security.saml import xml_datetime

    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert xml_datetime(dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)) == "2026-01-02T03:04:05.678Z"
    assert xml_datetime(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_two)) == "2026-01-02T01:04:05.000Z"
    assert xml_datetime(dt.datetime(999, 1, 1, tzinfo=dt.UTC)) == "0999-01-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        xml_datetime(dt.datetime(2026, 1, 1))
