"""Reading a verified XUA assertion: structure, conditions and attributes (SAML 2.0 core §2.3–2.7; IHE ITI
TF-2b 3.40.4.1.2; XSPA profile of SAML).

Input is always the canonical element signxml returned for the verified reference, never the original tree.
Refusals name the attribute, never its value (subject names and patient ids stay out of errors).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from gateway.security.user import is_valid_npi
from gateway.security.verified import VerificationPolicy, XuaClaims
from gateway.security.vocab import (
    SNOMED_SYSTEM,
    CodedValue,
    ConfirmationMethod,
    XuaAttribute,
    purpose_from_code,
)
from xca import ns
from xca.errors import (
    AssertionExpiredError,
    AssertionInvalidError,
    AssertionNotYetValidError,
    AudienceMismatchError,
    InvalidValueError,
    XuaAttributeInvalidError,
    XuaAttributeMissingError,
)
from xca.ids import is_oid, parse_cx
from xca.ns import q

__all__ = [
    "AssertionFields",
    "check_conditions",
    "claimed_home_community",
    "parse_assertion",
    "parse_xml_datetime",
]

_DATETIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_KNOWN_CONDITIONS: Final = frozenset({"AudienceRestriction", "OneTimeUse", "ProxyRestriction"})
_SINGLE_VALUED: Final = frozenset(XuaAttribute) - {XuaAttribute.ROLE}
_ATTRIBUTES: Final = {a.value: a for a in XuaAttribute}
_CODED_TAGS: Final = {
    XuaAttribute.ROLE: frozenset({q(ns.HL7V3, "Role")}),
    XuaAttribute.PURPOSE_OF_USE: frozenset({q(ns.HL7V3, "PurposeOfUse"), q(ns.HL7V3, "PurposeForUse")}),
}
_ATTRIBUTE_STATEMENT: Final = q(ns.SAML2, "AttributeStatement")
_ATTRIBUTE: Final = q(ns.SAML2, "Attribute")
_ATTRIBUTE_VALUE: Final = q(ns.SAML2, "AttributeValue")


def parse_xml_datetime(value: str | None, what: str) -> dt.datetime:
    """An xs:dateTime that must carry a time zone; anything else is a malformed assertion or timestamp."""
    match = _DATETIME.fullmatch((value or "").strip())
    if match is None:
        raise AssertionInvalidError(f"{what} is not an xs:dateTime with a time zone", detail={"field": what})
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        tz = (
            dt.UTC
            if zone == "Z"
            else dt.timezone(
                (1 if zone[0] == "+" else -1) * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            )
        )
        parsed = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        # at the ends of the calendar (0001-01-01T00:00:00+01:00) the UTC instant does not exist
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise AssertionInvalidError(f"{what} is not a valid date", detail={"field": what}) from None


@dataclass(frozen=True)
class AssertionFields:
    id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    issue_instant: dt.datetime
    not_before: dt.datetime
    not_on_or_after: dt.datetime
    audience_sets: tuple[tuple[str, ...], ...]
    authn_instant: dt.datetime | None
    authn_context: str | None
    holder_key_info: etree._Element
    claims: XuaClaims


def _one(parent: etree._Element, local: str, what: str) -> etree._Element:
    found = parent.findall(q(ns.SAML2, local))
    if len(found) != 1:
        raise AssertionInvalidError(f"the assertion needs exactly one {what}", detail={"field": what})
    return found[0]


def _text(element: etree._Element) -> str:
    if not len(element):  # no child nodes of any kind: the text is all there is (the common case)
        return (element.text or "").strip()
    return "".join(element.itertext()).strip()


def _holder_key_info(subject: etree._Element) -> etree._Element:
    for confirmation in subject.findall(q(ns.SAML2, "SubjectConfirmation")):
        if confirmation.get("Method") != ConfirmationMethod.HOLDER_OF_KEY:
            continue
        key_info = confirmation.find(f"{q(ns.SAML2, 'SubjectConfirmationData')}/{q(ns.DS, 'KeyInfo')}")
        if key_info is not None:
            return key_info
    raise AssertionInvalidError(
        "the assertion has no holder-of-key subject confirmation with a KeyInfo",
        detail={"field": "SubjectConfirmation"},
    )


def _coded(values: list[etree._Element], attribute: XuaAttribute) -> CodedValue:
    tags = _CODED_TAGS[attribute]
    for value in values:
        for child in value:
            if isinstance(child.tag, str) and child.tag in tags:
                code, system = child.get("code"), child.get("codeSystem")
                if code and system:
                    return CodedValue(code, system, child.get("codeSystemName"), child.get("displayName"))
    raise XuaAttributeInvalidError(
        "a coded XUA attribute lacks its hl7 CE value", detail={"attribute": attribute.value}
    )


def _oid_value(text: str, attribute: XuaAttribute) -> str:
    bare = text[len("urn:oid:") :] if text.lower().startswith("urn:oid:") else text
    if not is_oid(bare):
        raise XuaAttributeInvalidError(
            "an XUA attribute is not an OID", detail={"attribute": attribute.value}
        )
    return bare


def claimed_home_community(assertion: etree._Element) -> str | None:
    """The homeCommunityId an assertion claims, as a bare OID, read before its signature is verified (to
    choose what that verification may accept); ``None`` unless there is exactly one such attribute with
    exactly one OID value. What the verified assertion says is read again by :func:`parse_assertion`."""
    found: list[etree._Element] = []
    for statement in assertion.iterfind(_ATTRIBUTE_STATEMENT):
        for attribute in statement.iterfind(_ATTRIBUTE):
            if attribute.get("Name") == XuaAttribute.HOME_COMMUNITY_ID.value:
                found.extend(attribute.findall(_ATTRIBUTE_VALUE))
    if len(found) != 1:
        return None
    try:
        return _oid_value(_text(found[0]), XuaAttribute.HOME_COMMUNITY_ID)
    except XuaAttributeInvalidError:
        return None


def _claims(assertion: etree._Element, policy: VerificationPolicy) -> XuaClaims:
    values: dict[XuaAttribute, list[etree._Element]] = {}
    for statement in assertion.iterfind(_ATTRIBUTE_STATEMENT):
        for attribute in statement.iterfind(_ATTRIBUTE):
            name = _ATTRIBUTES.get(attribute.get("Name", ""))
            if name is None:
                continue
            if name in values:
                raise XuaAttributeInvalidError(
                    "an XUA attribute is repeated", detail={"attribute": name.value}
                )
            values[name] = attribute.findall(_ATTRIBUTE_VALUE)
    for name in policy.required_attributes:
        if not values.get(name):
            raise XuaAttributeMissingError(
                "a required XUA attribute is absent", detail={"attribute": name.value}
            )
    for name in _SINGLE_VALUED & values.keys():
        if len(values[name]) != 1:
            raise XuaAttributeInvalidError(
                "an XUA attribute must have exactly one value", detail={"attribute": name.value}
            )
    text = {name: _text(found[0]) for name, found in values.items() if found}
    for name, value in text.items():
        if name not in (XuaAttribute.ROLE, XuaAttribute.PURPOSE_OF_USE) and not value:
            raise XuaAttributeInvalidError("an XUA attribute is empty", detail={"attribute": name.value})
    role = purpose = None
    if values.get(XuaAttribute.ROLE):
        role = _coded(values[XuaAttribute.ROLE], XuaAttribute.ROLE)
        if role.code_system != SNOMED_SYSTEM or not (role.code.isascii() and role.code.isdigit()):
            raise XuaAttributeInvalidError("the role is not a SNOMED CT code", detail={"attribute": "role"})
    if values.get(XuaAttribute.PURPOSE_OF_USE):
        purpose = _coded(values[XuaAttribute.PURPOSE_OF_USE], XuaAttribute.PURPOSE_OF_USE)
        if purpose_from_code(purpose.code, purpose.code_system) is None:
            raise XuaAttributeInvalidError(
                "the purpose of use is not a known nhin-purpose or TEFCA code",
                detail={"attribute": "purposeofuse"},
            )
    npi = text.get(XuaAttribute.NPI)
    if npi is not None and not is_valid_npi(npi):
        raise XuaAttributeInvalidError(
            "the NPI fails its check digit", detail={"attribute": XuaAttribute.NPI.value}
        )
    resource = text.get(XuaAttribute.RESOURCE_ID)
    try:
        resource_id = parse_cx(resource) if resource is not None else None
    except InvalidValueError:
        raise XuaAttributeInvalidError(
            "the resource-id is not a CX patient id", detail={"attribute": XuaAttribute.RESOURCE_ID.value}
        ) from None

    def oid(name: XuaAttribute) -> str | None:
        found = text.get(name)
        return _oid_value(found, name) if found is not None else None

    return XuaClaims(
        subject_id=text.get(XuaAttribute.SUBJECT_ID),
        organization=text.get(XuaAttribute.ORGANIZATION),
        organization_id=oid(XuaAttribute.ORGANIZATION_ID),
        home_community_id=oid(XuaAttribute.HOME_COMMUNITY_ID),
        role=role,
        purpose_of_use=purpose,
        purpose=purpose_from_code(purpose.code, purpose.code_system) if purpose else None,
        npi=npi,
        resource_id=resource_id,
        grantor=oid(XuaAttribute.GRANTOR),
    )


def parse_assertion(assertion: etree._Element, policy: VerificationPolicy) -> AssertionFields:
    """Structure and attributes of a verified assertion (times and audience are checked separately)."""
    if assertion.get("Version") != "2.0":
        raise AssertionInvalidError("the assertion is not SAML 2.0", detail={"field": "Version"})
    subject = _one(assertion, "Subject", "Subject")
    name_id = _one(subject, "NameID", "NameID")
    conditions = _one(assertion, "Conditions", "Conditions")
    for condition in conditions:
        if isinstance(condition.tag, str) and etree.QName(condition).localname not in _KNOWN_CONDITIONS:
            raise AssertionInvalidError(
                "the assertion has a condition we do not understand",
                detail={"field": etree.QName(condition).localname},
            )
    audience_sets = tuple(
        tuple(_text(a) for a in restriction.findall(q(ns.SAML2, "Audience")))
        for restriction in conditions.findall(q(ns.SAML2, "AudienceRestriction"))
    )
    authn = assertion.find(q(ns.SAML2, "AuthnStatement"))
    context = (
        authn.find(f"{q(ns.SAML2, 'AuthnContext')}/{q(ns.SAML2, 'AuthnContextClassRef')}")
        if authn is not None
        else None
    )
    return AssertionFields(
        id=assertion.get("ID", ""),
        issuer=_text(_one(assertion, "Issuer", "Issuer")),
        name_id=_text(name_id),
        name_id_format=name_id.get("Format"),
        issue_instant=parse_xml_datetime(assertion.get("IssueInstant"), "IssueInstant"),
        not_before=parse_xml_datetime(conditions.get("NotBefore"), "NotBefore"),
        not_on_or_after=parse_xml_datetime(conditions.get("NotOnOrAfter"), "NotOnOrAfter"),
        audience_sets=audience_sets,
        authn_instant=parse_xml_datetime(authn.get("AuthnInstant"), "AuthnInstant")
        if authn is not None
        else None,
        authn_context=_text(context) if context is not None else None,
        holder_key_info=_holder_key_info(subject),
        claims=_claims(assertion, policy),
    )


def check_conditions(fields: AssertionFields, policy: VerificationPolicy, now: dt.datetime) -> None:
    """Validity window (with skew), lifetime cap and audience restriction (SAML core §2.5.1)."""
    if fields.not_on_or_after <= fields.not_before:
        raise AssertionInvalidError("NotOnOrAfter is not after NotBefore", detail={"field": "Conditions"})
    if fields.not_on_or_after - fields.not_before > policy.max_assertion_lifetime:
        raise AssertionInvalidError(
            "the assertion lifetime exceeds the allowed maximum",
            detail={"field": "Conditions", "limit": str(policy.max_assertion_lifetime)},
        )
    if now + policy.clock_skew < fields.not_before:
        raise AssertionNotYetValidError(
            "the assertion is not valid yet", detail={"not_before": fields.not_before.isoformat()}
        )
    if now - policy.clock_skew >= fields.not_on_or_after:
        raise AssertionExpiredError(
            "the assertion has expired", detail={"not_on_or_after": fields.not_on_or_after.isoformat()}
        )
    # an assertion cannot have been issued or authenticated in the future: such instants are forged or come
    # from a broken clock, and would make the audit record lie about when access was granted
    for field, instant in (("IssueInstant", fields.issue_instant), ("AuthnInstant", fields.authn_instant)):
        if instant is not None and instant > now + policy.clock_skew:
            raise AssertionNotYetValidError(
                f"the assertion's {field} is in the future", detail={"field": field}
            )
    if not fields.audience_sets:
        raise AudienceMismatchError("the assertion has no audience restriction")
    for audiences in fields.audience_sets:
        if not policy.audiences.intersection(audiences):
            raise AudienceMismatchError(
                "the assertion is meant for another audience", detail={"audiences": list(audiences)}
            )
