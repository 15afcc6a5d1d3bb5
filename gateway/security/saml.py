"""Building the XUA SAML 2.0 assertion (IHE ITI TF-2b 3.40.4.1 XUA; OASIS SAML 2.0 core §2; WSS SAML Token
Profile 1.1 §3.5 holder-of-key).

:func:`build_assertion` returns the unsigned ``saml2:Assertion`` with a ``ds:Signature`` placeholder right
after ``Issuer`` (SAML core §2.3.3 fixes that position); :mod:`gateway.security.wss` signs it in place.
Element order
follows the schema: Issuer, Signature, Subject, Conditions, AuthnStatement, AttributeStatement.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from lxml import etree

from gateway.security.options import IssuerConfig
from gateway.security.user import RequestingUser
from gateway.security.vocab import AuthnContext, CodedValue, ConfirmationMethod, XuaAttribute
from xca import ns
from xca.errors import XuaValueError
from xca.ids import Cx, format_cx, oid_urn
from xca.ns import q

__all__ = [
    "ATTRIBUTE_NAME_FORMAT",
    "AssertionInput",
    "AssertionValues",
    "assertion_with",
    "build_assertion",
    "new_assertion_id",
    "xml_datetime",
]

ATTRIBUTE_NAME_FORMAT: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
_SAML_NSMAP: Final = {"saml2": ns.SAML2, "ds": ns.DS, "xsi": ns.XSI}
_XSI_TYPE: Final = q(ns.XSI, "type")
_TEMPLATE_CACHE_SIZE: Final = 64


def new_assertion_id() -> str:
    """A fresh assertion ID: an NCName (SAML core §1.3.4), unguessable."""
    return f"_{uuid.uuid4().hex}"


def xml_datetime(value: dt.datetime) -> str:
    """xs:dateTime in UTC with millisecond precision and ``Z`` (SAML core §1.3.3)."""
    if value.tzinfo is None:
        raise ValueError("datetimes on the wire must be timezone-aware")
    # isoformat, not strftime: the C library's strftime costs several times more (it looks up the local time
    # zone), and this runs four times per signed request.
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True)
class AssertionInput:
    """What one assertion states besides the user: who issues it, for whom, when, about which patient."""

    issuer: IssuerConfig
    audience: str
    issue_instant: dt.datetime
    lifetime: dt.timedelta
    holder_certificate_der: bytes
    resource_id: Cx | None = None
    assertion_id: str | None = None


def _sub(parent: etree._Element, local: str, text: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, q(ns.SAML2, local), attrib)
    if text is not None:
        element.text = text
    return element


def _attribute(statement: etree._Element, name: XuaAttribute) -> etree._Element:
    return _sub(statement, "Attribute", Name=name.value, NameFormat=ATTRIBUTE_NAME_FORMAT)


def _text_attribute(statement: etree._Element, name: XuaAttribute, value: str) -> None:
    _sub(_attribute(statement, name), "AttributeValue", value)


def _coded_attribute(statement: etree._Element, name: XuaAttribute, local: str, value: CodedValue) -> None:
    holder = _sub(_attribute(statement, name), "AttributeValue")
    coded = etree.SubElement(holder, q(ns.HL7V3, local), nsmap={"hl7": ns.HL7V3})
    coded.set(_XSI_TYPE, "hl7:CE")
    coded.set("code", value.code)
    coded.set("codeSystem", value.code_system)
    if value.code_system_name:
        coded.set("codeSystemName", value.code_system_name)
    if value.display_name:
        coded.set("displayName", value.display_name)


@dataclass(frozen=True)
class _Template:
    """An assertion with everything but its ID, instants, audience and resource-id value filled in; never
    handed out, only copied."""

    assertion: etree._Element
    resource_index: int | None  # position of the resource-id Attribute in the AttributeStatement


def _build_template(
    user: RequestingUser,
    issuer: IssuerConfig,
    holder_certificate_der: bytes,
    with_resource: bool,
) -> _Template:
    assertion = etree.Element(q(ns.SAML2, "Assertion"), nsmap=_SAML_NSMAP)
    # the three attributes are set here, in this order, so that serializations keep it when they are filled
    assertion.set("ID", "")
    assertion.set("IssueInstant", "")
    assertion.set("Version", "2.0")
    _sub(assertion, "Issuer", issuer.issuer, Format=issuer.issuer_format)
    etree.SubElement(assertion, q(ns.DS, "Signature"), Id="placeholder")

    subject = _sub(assertion, "Subject")
    _sub(subject, "NameID", user.user_id, Format=user.name_id_format.value)
    confirmation = _sub(subject, "SubjectConfirmation", Method=ConfirmationMethod.HOLDER_OF_KEY.value)
    data = _sub(confirmation, "SubjectConfirmationData")
    data.set(_XSI_TYPE, "saml2:KeyInfoConfirmationDataType")
    x509_data = etree.SubElement(etree.SubElement(data, q(ns.DS, "KeyInfo")), q(ns.DS, "X509Data"))
    etree.SubElement(x509_data, q(ns.DS, "X509Certificate")).text = base64.b64encode(
        holder_certificate_der
    ).decode("ascii")

    conditions = _sub(assertion, "Conditions", NotBefore="", NotOnOrAfter="")
    _sub(_sub(conditions, "AudienceRestriction"), "Audience", "")

    authn = _sub(assertion, "AuthnStatement", AuthnInstant="")
    _sub(_sub(authn, "AuthnContext"), "AuthnContextClassRef", AuthnContext.X509.value)

    statement = _sub(assertion, "AttributeStatement")
    _text_attribute(statement, XuaAttribute.SUBJECT_ID, user.name)
    _text_attribute(statement, XuaAttribute.ORGANIZATION, user.organization.name)
    _text_attribute(statement, XuaAttribute.ORGANIZATION_ID, oid_urn(user.organization.oid))
    _text_attribute(statement, XuaAttribute.HOME_COMMUNITY_ID, oid_urn(issuer.home_community_id))
    _coded_attribute(statement, XuaAttribute.ROLE, "Role", user.role.coded)
    _coded_attribute(statement, XuaAttribute.PURPOSE_OF_USE, "PurposeOfUse", user.purpose_of_use.coded)
    if user.npi is not None:
        _text_attribute(statement, XuaAttribute.NPI, user.npi)
    resource_index = None
    if with_resource:
        resource_index = len(statement)
        _text_attribute(statement, XuaAttribute.RESOURCE_ID, "")
    if user.grantor is not None:
        _text_attribute(statement, XuaAttribute.GRANTOR, oid_urn(user.grantor))
    return _Template(assertion, resource_index)


_TemplateKey = tuple[RequestingUser, IssuerConfig, bytes, bool]
_local = threading.local()


def _template(key: _TemplateKey) -> _Template:
    # Per thread (lxml trees are not shared between threads here) and bounded: one entry per user and
    # signing certificate in use (not per partner: the audience is set on each copy, so a pull asking 200
    # gateways uses one template). The key holds every input of the template by value, so an entry is only
    # ever reused for exactly the same user, issuer and certificate.
    cache: OrderedDict[_TemplateKey, _Template] = _local.__dict__.setdefault("templates", OrderedDict())
    template = cache.get(key)
    if template is None:
        template = cache[key] = _build_template(*key)
        if len(cache) > _TEMPLATE_CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return template


def _checked(spec: AssertionInput) -> str | None:
    """The resource-id value ``spec`` states (or ``None``), once its audience and lifetime are checked."""
    if not spec.audience.strip():
        raise XuaValueError("the assertion needs an audience", detail={"field": "audience"})
    if spec.lifetime <= dt.timedelta(0):
        raise XuaValueError("the assertion lifetime must be positive", detail={"field": "lifetime"})
    return format_cx(spec.resource_id) if spec.resource_id is not None else None


@dataclass(frozen=True)
class AssertionValues:
    """What changes from one assertion to the next, as written on the wire (xs:dateTime text and all)."""

    assertion_id: str
    issued: str
    not_on_or_after: str
    audience: str
    resource: str | None

    @classmethod
    def of(cls, spec: AssertionInput) -> AssertionValues:
        """The values ``spec`` states (its audience and lifetime checked); a fresh ID when it names none."""
        resource = _checked(spec)
        return cls(
            assertion_id=spec.assertion_id or new_assertion_id(),
            issued=xml_datetime(spec.issue_instant),
            not_on_or_after=xml_datetime(spec.issue_instant + spec.lifetime),
            audience=spec.audience,
            resource=resource,
        )


def assertion_with(
    user: RequestingUser, issuer: IssuerConfig, holder_certificate_der: bytes, values: AssertionValues
) -> etree._Element:
    """The unsigned assertion for ``user`` holding ``values``: a copy of the template for this user, issuer,
    certificate and (whether there is a) resource-id, filled in."""
    template = _template((user, issuer, holder_certificate_der, values.resource is not None))
    assertion = copy.deepcopy(template.assertion)
    assertion.set("ID", values.assertion_id)
    assertion.set("IssueInstant", values.issued)
    conditions, authn, statement = assertion[3], assertion[4], assertion[5]
    conditions.set("NotBefore", values.issued)
    conditions.set("NotOnOrAfter", values.not_on_or_after)
    conditions[0][0].text = values.audience  # AudienceRestriction/Audience
    authn.set("AuthnInstant", values.issued)
    if values.resource is not None and template.resource_index is not None:
        statement[template.resource_index][0].text = values.resource
    return assertion


def build_assertion(user: RequestingUser, spec: AssertionInput) -> etree._Element:
    """The unsigned holder-of-key XUA assertion for ``user`` (see the module docstring for its layout).

    The parts that stay the same from message to message (user, issuer, holder certificate) come from a
    template made once and copied; only the ID, the instants, the audience and the resource-id are set per
    call.
    """
    return assertion_with(user, spec.issuer, spec.holder_certificate_der, AssertionValues.of(spec))
