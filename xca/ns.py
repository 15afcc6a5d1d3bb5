"""Every XML namespace the wire protocol uses, in one place (IHE ITI TF-2, OASIS ebRS 3.0, W3C).

Use the constants with lxml's Clark notation helper :func:`q`: ``q(SOAP12, "Envelope")``.
``NSMAP`` holds the conventional prefixes used when building messages.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DS",
    "EC",
    "HIEGATE",
    "HL7V3",
    "LCM",
    "NSMAP",
    "QUERY",
    "RIM",
    "RS",
    "SAML2",
    "SOAP12",
    "WSA",
    "WSSE",
    "WSU",
    "XDSB",
    "XML",
    "XOP",
    "XSI",
    "q",
]

SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA: Final = "http://www.w3.org/2005/08/addressing"
HL7V3: Final = "urn:hl7-org:v3"
QUERY: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RIM: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM: Final = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB: Final = "urn:ihe:iti:xds-b:2007"
XOP: Final = "http://www.w3.org/2004/08/xop/include"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SAML2: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
EC: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XML: Final = "http://www.w3.org/XML/1998/namespace"
HIEGATE: Final = "urn:hie-gateway:error"
"""hie-gateway's own namespace, for the error code inside a SOAP Fault's Detail."""

NSMAP: Final[dict[str, str]] = {
    "soap": SOAP12,
    "wsa": WSA,
    "hl7": HL7V3,
    "query": QUERY,
    "rim": RIM,
    "rs": RS,
    "xdsb": XDSB,
    "xop": XOP,
    "wsse": WSSE,
    "wsu": WSU,
    "saml2": SAML2,
    "ds": DS,
    "xsi": XSI,
}


def q(namespace: str, local: str) -> str:
    """Clark-notation qualified name ``{namespace}local`` for lxml."""
    return f"{{{namespace}}}{local}"
