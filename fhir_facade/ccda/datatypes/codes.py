"""CD, CE, CV, CS → FHIR Coding and CodeableConcept, translations included.

The element's own code comes first, then each ``translation``; the text is ``originalText`` (its narrative
reference resolved) or else the display name. A ``nullFlavor`` code with translations (``OTH`` plus a local
code,
``UNK`` plus a SNOMED translation) keeps the translations. Code-system OIDs become URIs via ``codesystems``.
"""

from __future__ import annotations

from lxml import etree

from fhir_facade.ccda.cda import child, children
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes.codesystems import system_uri
from fhir_facade.ccda.datatypes.narrative import original_text

__all__ = ["code_of", "coding", "concept"]


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    collapsed = " ".join(value.split())
    return collapsed or None


def coding(element: etree._Element | None) -> Json | None:
    """One Coding from ``@code``/``@codeSystem``/``@displayName``; ``None`` without a code."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    code = _clean(element.get("code"))
    if code is None:
        return None
    result: Json = {}
    system = _clean(element.get("codeSystem"))
    if system:
        result["system"] = system_uri(system)
    version = _clean(element.get("codeSystemVersion"))
    if version:
        result["version"] = version
    result["code"] = code
    display = _clean(element.get("displayName"))
    if display:
        result["display"] = display
    return result


def concept(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """CodeableConcept of a coded element, or ``None`` when it carries neither a code nor any text."""
    if element is None:
        return None
    own = coding(element)
    codings: list[Json] = [own] if own is not None else []
    # Most coded elements are empty: only look for translations and originalText in those that are not.
    nested = len(element) > 0
    if nested:
        seen = {(own.get("system"), own["code"])} if own is not None else set()
        for candidate in children(element, "translation"):
            found = coding(candidate)
            if found is not None:
                key = (found.get("system"), found["code"])
                if key not in seen:
                    seen.add(key)
                    codings.append(found)
    text = (original_text(child(element, "originalText"), ctx) if nested else None) or _clean(
        element.get("displayName")
    )
    if not codings and not text:
        return None
    result: Json = {}
    if codings:
        result["coding"] = codings
    if text:
        result["text"] = text
    return result


def code_of(element: etree._Element | None) -> str | None:
    """The bare ``@code`` (for coded simple values such as status codes), whitespace-trimmed."""
    if element is None:
        return None
    return _clean(element.get("code"))
