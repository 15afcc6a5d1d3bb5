"""The cross-community wire protocol (IHE XCPD ITI-55, XCA ITI-38/ITI-39), pure: no I/O, no database.

Also home of the one hardened XML parser (:func:`parse_xml`) and of the project's exception hierarchy
(:mod:`xca.errors`), because this is the innermost layer every other package may import.
"""

from xca.errors import HieGatewayError
from xca.safexml import parse_xml

__all__ = ["HieGatewayError", "parse_xml"]
