"""Wire errors: the hardened parser's refusals (HG-20xx), unexpected messages (HG-21xx), schema (HG-22xx)."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "ActionNotSupportedError",
    "InvalidValueError",
    "MissingElementError",
    "MtomFormatError",
    "SchemaValidationError",
    "UnexpectedMessageError",
    "WireFormatError",
    "XmlDtdForbiddenError",
    "XmlEntityDeclarationError",
    "XmlExternalDtdError",
    "XmlExternalEntityError",
    "XmlRefusedError",
    "XmlSyntaxError",
    "XmlTooDeepError",
    "XmlTooLargeError",
]


class XmlRefusedError(HieGatewayError, ValueError):
    """The hardened parser refused inbound bytes; nothing from them was used."""

    code = "HG-2000"


class XmlTooLargeError(XmlRefusedError):
    code = "HG-2001"


class XmlSyntaxError(XmlRefusedError):
    code = "HG-2002"


class XmlDtdForbiddenError(XmlRefusedError):
    code = "HG-2003"


class XmlExternalDtdError(XmlDtdForbiddenError):
    code = "HG-2004"


class XmlEntityDeclarationError(XmlDtdForbiddenError):
    code = "HG-2005"


class XmlExternalEntityError(XmlEntityDeclarationError):
    code = "HG-2006"


class XmlTooDeepError(XmlRefusedError):
    code = "HG-2007"


# --- wire format (21xx, 22xx) ---------------------------------------------------------------------------


class WireFormatError(HieGatewayError, ValueError):
    """Well-formed XML that is not the message the transaction expects."""

    code = "HG-2100"


class UnexpectedMessageError(WireFormatError):
    code = "HG-2101"


class MissingElementError(WireFormatError):
    code = "HG-2102"


class InvalidValueError(WireFormatError):
    code = "HG-2103"


class MtomFormatError(WireFormatError):
    code = "HG-2104"


class ActionNotSupportedError(UnexpectedMessageError):
    """The wsa:Action is not the request action of the endpoint it was sent to.

    A refinement of HG-2101 (it keeps that code): the responding gateway answers it with the
    ``wsa:ActionNotSupported`` fault subcode.
    """


class SchemaValidationError(HieGatewayError):
    """An outgoing message does not validate against the official schema: a bug on our side."""

    code = "HG-2201"
