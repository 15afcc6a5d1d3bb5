"""The cross-community wire protocol (IHE XCPD ITI-55, XCA ITI-38/ITI-39), pure: no I/O, no database.

Also home of the one hardened XML parser (:func:`parse_xml`) and of the project's exception hierarchy
(:mod:`xca.errors`), because this is the innermost layer every other package may import.

:func:`parse_xml` is imported on first use: every package imports :mod:`xca.errors`, which runs this module,
and ``hiegate`` starts without loading lxml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xca.errors import HieGatewayError

if TYPE_CHECKING:
    from xca.safexml import parse_xml

__all__ = ["HieGatewayError", "parse_xml"]


def __getattr__(name: str) -> Any:
    if name == "parse_xml":
        from xca.safexml import parse_xml

        return parse_xml
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
