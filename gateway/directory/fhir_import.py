"""Reading a Carequality-style FHIR directory: a Bundle of Organization resources (or one Organization), in
JSON or XML.

What is read (IHE-NOTES "The Carequality directory"): the homeCommunityId from an identifier whose value is
``urn:oid:...`` (a bare OID under system ``urn:ietf:rfc:3986`` is accepted too); ``name``; ``active``
(absent means active); the first address with its position (the ``geolocation`` extension, or a
``position``); ``partOf``; and the Endpoints referenced from ``Organization.endpoint`` (contained ``#id`` or
``Endpoint/id`` entries of the same Bundle), each mapped to ITI-55/38/39 by the Sequoia ``Transaction``
extension, else by its ``connectionType`` code (``ihe-xcpd`` → ITI-55, ``ihe-xca`` → ITI-38 and ITI-39).

XML goes through the project's hardened parser and is turned into the JSON shape first (every child a list),
so one reader serves both forms. An Organization without a usable homeCommunityId is skipped and counted. An
Endpoint for one of those transactions whose address cannot be called (not an absolute ``https://`` URL with
a host, or plain ``http://``, which would carry patient data unencrypted) is ignored with a warning naming
the Organization; the Organization itself is kept. A file that is not a directory at all (a JSON array of
anything but FHIR resources, another resource type, no Organization) is refused with
:class:`DirectoryFormatError`, as is one that does not parse, naming the file and the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from lxml import etree

from gateway.directory.models import Community, DirectoryFormatError, Endpoints, Location, TransactionKind
from xca.errors import InvalidValueError, XmlRefusedError, XmlSyntaxError
from xca.ids import is_oid, normalize_oid
from xca.safexml import parse_xml

__all__ = [
    "GEOLOCATION_URL",
    "TRANSACTION_URL",
    "DirectoryFile",
    "parse_directory",
    "read_directory",
]

TRANSACTION_URL: Final = "https://sequoiaproject.org/fhir/sphd/StructureDefinition/Transaction"
GEOLOCATION_URL: Final = "http://hl7.org/fhir/StructureDefinition/geolocation"
_FHIR_NS: Final = "http://hl7.org/fhir"
_MAX_BYTES: Final = 256 * 1024 * 1024
_EXPECTED: Final = "expected a FHIR Bundle of Organizations (or one Organization)"
_LXML_POSITION: Final = re.compile(r", line (\d+), column (\d+)$")
_Json = dict[str, Any]


@dataclass(frozen=True)
class DirectoryFile:
    """What a directory file held: its communities, the Organizations skipped (and why) and the warnings
    about what was kept without a part of it (an endpoint whose address cannot be called)."""

    communities: tuple[Community, ...]
    skipped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def parse_directory(data: bytes, *, source: str = "the directory file") -> DirectoryFile:
    """Read a directory file (JSON or XML, detected from the first character); ``source`` names it in
    errors (its path)."""
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            document: Any = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DirectoryFormatError(
                f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                detail={"line": exc.lineno, "column": exc.colno},
            ) from exc
    elif head == b"<":
        try:
            root = parse_xml(data, max_bytes=_MAX_BYTES, large_text=True)
        except XmlSyntaxError as exc:
            raise _xml_syntax(source, exc) from exc
        except XmlRefusedError as exc:
            raise DirectoryFormatError(f"{source}: refused as XML: {exc.message} ({exc.code})") from exc
        document = _xml_resource(root, source)
    else:
        raise DirectoryFormatError(f"{source}: neither JSON nor XML; {_EXPECTED}")
    return read_directory(document, source)


def read_directory(document: Any, source: str) -> DirectoryFile:
    """A directory already parsed from JSON (a Bundle, an Organization or an array of resources), as
    :func:`parse_directory` reads it; ``source`` names it in errors."""
    found = _read(document, source)
    if not found.communities:
        # Importing nothing would be pointless, and with --prune would empty the directory: a server or file
        # whose Organizations all lack what an import needs is refused.
        raise DirectoryFormatError(
            f"{source}: none of its {len(found.skipped)} Organizations can be imported "
            f"({found.skipped[0] if found.skipped else 'no homeCommunityId'}); nothing imported"
        )
    return found


def _xml_syntax(source: str, exc: XmlSyntaxError) -> DirectoryFormatError:
    # lxml ends its message with the position ("..., line 3, column 10"); say it first, once.
    reason = exc.message.removeprefix("XML is not well-formed: ")
    found = _LXML_POSITION.search(reason)
    if found is None:
        line = exc.detail.get("line")
        return DirectoryFormatError(
            f"{source}: not valid XML at line {line}: {reason}", detail={"line": line}
        )
    line_number, column = int(found[1]), int(found[2])
    return DirectoryFormatError(
        f"{source}: not valid XML at line {line_number}, column {column}: {reason[: found.start()]}",
        detail={"line": line_number, "column": column},
    )


def _resources(document: Any, source: str) -> list[_Json]:
    if isinstance(document, list):
        if not document or not all(isinstance(r, dict) and _text(r.get("resourceType")) for r in document):
            raise DirectoryFormatError(
                f"{source}: not a FHIR Bundle or directory: a JSON array, not of FHIR resources; {_EXPECTED}"
            )
        return list(document)
    kind = _text(document.get("resourceType")) if isinstance(document, dict) else None
    if kind == "Bundle":
        resources = [_one(e.get("resource")) for e in _many(document.get("entry")) if isinstance(e, dict)]
        return [r for r in resources if isinstance(r, dict)]
    if kind == "Organization":
        return [document]
    found = f"a FHIR {kind}" if kind else "JSON without a resourceType"
    raise DirectoryFormatError(f"{source}: not a FHIR Bundle or directory: {found}; {_EXPECTED}")


def _read(document: Any, source: str) -> DirectoryFile:
    resources = _resources(document, source)
    endpoints = {
        f"Endpoint/{_text(r.get('id'))}": r for r in resources if r.get("resourceType") == "Endpoint"
    }
    organizations = [r for r in resources if r.get("resourceType") == "Organization"]
    if not organizations:
        # Importing nothing (or, with --prune, emptying the directory) is never what such a file meant.
        raise DirectoryFormatError(f"{source}: no Organization resources in it; {_EXPECTED}")
    ids_by_local: dict[str, str] = {}
    for org in organizations:
        hcid = _home_community_id(org)
        if hcid is not None and _text(org.get("id")):
            ids_by_local[f"Organization/{_text(org.get('id'))}"] = hcid
    communities: list[Community] = []
    skipped: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for index, org in enumerate(organizations):
        hcid = _home_community_id(org)
        if hcid is None:
            skipped.append(f"Organization #{index + 1}: no homeCommunityId (urn:oid: identifier)")
            continue
        if hcid in seen:
            skipped.append(f"Organization #{index + 1}: homeCommunityId {hcid} listed twice (first kept)")
            continue
        seen.add(hcid)
        own, problems = _endpoints(org, endpoints)
        if problems:
            label = _organization_label(org, index, hcid)
            warnings.extend(f"{label}: {problem}; endpoint ignored" for problem in problems)
        communities.append(
            Community(
                home_community_id=hcid,
                name=_text(org.get("name")) or hcid,
                active=_bool(org.get("active"), default=True),
                location=_location(org),
                endpoints=own,
                part_of=_part_of(org, ids_by_local),
            )
        )
    return DirectoryFile(tuple(communities), tuple(skipped), tuple(warnings))


def _organization_label(org: Mapping[str, Any], index: int, hcid: str) -> str:
    local = _text(org.get("id"))
    named = f"Organization {local!r}" if local else f"Organization #{index + 1}"
    name = _text(org.get("name"))
    return f"{named}{f' {name}' if name else ''} (homeCommunityId {hcid})"


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _one(value: Any) -> Any:
    items = _many(value)
    return items[0] if items else None


def _text(value: Any) -> str | None:
    item = _one(value)
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, int | float) and not isinstance(item, bool):
        return str(item)
    return None


def _bool(value: Any, *, default: bool) -> bool:
    item = _one(value)
    if isinstance(item, bool):
        return item
    if isinstance(item, str) and item.strip().lower() in ("true", "false"):
        return item.strip().lower() == "true"
    return default


def _float(value: Any) -> float | None:
    item = _one(value)
    try:
        number = float(item) if isinstance(item, str | int | float) and not isinstance(item, bool) else None
    except ValueError:
        return None
    return number if number is not None and -180.0 <= number <= 180.0 else None


def _oid(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalize_oid(value).value
    except InvalidValueError:
        return None


def _home_community_id(org: Mapping[str, Any]) -> str | None:
    fallback: str | None = None
    for identifier in _many(org.get("identifier")):
        if not isinstance(identifier, dict):
            continue
        value = _text(identifier.get("value"))
        if value and value.lower().startswith("urn:oid:"):
            found = _oid(value)
            if found is not None:
                return found
        elif value and fallback is None and is_oid(value):
            fallback = value
    return fallback


def _extension(element: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    return next(
        (e for e in _many(element.get("extension")) if isinstance(e, dict) and _text(e.get("url")) == url),
        None,
    )


def _position(element: Mapping[str, Any]) -> tuple[float | None, float | None]:
    geo = _extension(element, GEOLOCATION_URL)
    if geo is not None:
        lat = _extension(geo, "latitude")
        lon = _extension(geo, "longitude")
        if lat is not None and lon is not None:
            return _float(lat.get("valueDecimal")), _float(lon.get("valueDecimal"))
    position = _one(element.get("position"))
    if isinstance(position, dict):
        return _float(position.get("latitude")), _float(position.get("longitude"))
    return None, None


def _location(org: Mapping[str, Any]) -> Location:
    address = _one(org.get("address"))
    if not isinstance(address, dict):
        lat, lon = _position(org)
        return Location(latitude=lat, longitude=lon)
    lat, lon = _position(address)
    if lat is None or lon is None:
        lat, lon = _position(org)
    state = _text(address.get("state"))
    return Location(
        city=_text(address.get("city")),
        state=state.upper() if state and len(state) <= 3 else state,
        postal_code=_text(address.get("postalCode")),
        latitude=lat,
        longitude=lon,
    )


def _part_of(org: Mapping[str, Any], ids_by_local: Mapping[str, str]) -> str | None:
    part_of = _one(org.get("partOf"))
    if not isinstance(part_of, dict):
        return None
    reference = _text(part_of.get("reference"))
    if reference:
        local = reference.split("/_history")[0]
        tail = "/".join(local.rstrip("/").split("/")[-2:])
        if tail in ids_by_local:
            return ids_by_local[tail]
        if reference.lower().startswith("urn:oid:"):
            return _oid(reference)
    identifier = _one(part_of.get("identifier"))
    if isinstance(identifier, dict):
        return _oid(_text(identifier.get("value")))
    return None


def _codes(endpoint: Mapping[str, Any]) -> set[str]:
    codes: set[str] = set()
    for connection in _many(endpoint.get("connectionType")):
        if not isinstance(connection, dict):
            continue
        for coding in [connection, *_many(connection.get("coding"))]:
            if isinstance(coding, dict) and _text(coding.get("code")):
                codes.add(str(_text(coding.get("code"))).lower())
    return codes


def _transactions(endpoint: Mapping[str, Any]) -> set[TransactionKind]:
    named: set[TransactionKind] = set()
    for extension in _many(endpoint.get("extension")):
        if isinstance(extension, dict) and _text(extension.get("url")) == TRANSACTION_URL:
            value = (_text(extension.get("valueString")) or "").upper().replace("  ", " ")
            for kind in TransactionKind:
                if kind.value.upper() == value or kind.name.replace("ITI", "ITI-") in value:
                    named.add(kind)
    if named:
        return named
    codes = _codes(endpoint)
    if "ihe-xcpd" in codes:
        named.add(TransactionKind.ITI55)
    if "ihe-xca" in codes:
        named |= {TransactionKind.ITI38, TransactionKind.ITI39}
    return named


def _address_problem(address: str | None) -> str | None:
    """Why ``address`` cannot be called as a SOAP endpoint, or ``None`` when it can."""
    if not address:
        return "has no address"
    parts = urlsplit(address)
    scheme = parts.scheme.lower()
    if scheme == "http" and parts.hostname:
        return f"address {address!r} is plain http (no TLS, patient data would travel unencrypted)"
    try:
        usable = scheme == "https" and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number
        usable = False
    if not usable or any(c.isspace() or not c.isprintable() for c in address):
        return f"address {address!r} is not an absolute https:// URL"
    return None


def _endpoints(
    org: Mapping[str, Any], bundle_endpoints: Mapping[str, Mapping[str, Any]]
) -> tuple[Endpoints, list[str]]:
    contained = {
        f"#{_text(r.get('id'))}": r
        for r in _many(org.get("contained"))
        if isinstance(r, dict) and r.get("resourceType") == "Endpoint"
    }
    referenced: list[Mapping[str, Any]] = []
    for ref in _many(org.get("endpoint")):
        key = _text(ref.get("reference")) if isinstance(ref, dict) else None
        if key is None:
            continue
        tail = "/".join(key.split("/_history")[0].split("/")[-2:])
        found = contained.get(key) or bundle_endpoints.get(tail)
        if found is not None:
            referenced.append(found)
    if not referenced:
        referenced = list(contained.values())
    urls: dict[TransactionKind, str] = {}
    problems: list[str] = []
    for number, endpoint in enumerate(referenced, start=1):
        status = (_text(endpoint.get("status")) or "active").lower()
        kinds = sorted(_transactions(endpoint))
        if status not in ("active", "test") or not kinds:
            continue  # switched off, or not an XCPD/XCA endpoint (Direct, FHIR...): not ours to judge
        address = _text(endpoint.get("address"))
        problem = _address_problem(address)
        if problem is not None:
            local = _text(endpoint.get("id"))
            named = f"Endpoint {local!r}" if local else f"Endpoint #{number}"
            problems.append(f"{named} ({', '.join(k.value for k in kinds)}) {problem}")
            continue
        assert address is not None
        for kind in kinds:
            urls.setdefault(kind, address)
    own = Endpoints(
        iti55=urls.get(TransactionKind.ITI55),
        iti38=urls.get(TransactionKind.ITI38),
        iti39=urls.get(TransactionKind.ITI39),
    )
    return own, problems


# --- FHIR XML → the JSON shape ----------------------------------------------------------------------------

_RESOURCE_WRAPPERS: Final = frozenset({"contained", "resource"})


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _xml_resource(element: etree._Element, source: str) -> _Json:
    if etree.QName(element).namespace != _FHIR_NS:
        raise DirectoryFormatError(
            f"{source}: not a FHIR Bundle or directory: XML outside the FHIR namespace ({_FHIR_NS}); "
            f"{_EXPECTED}"
        )
    node = _xml_node(element, source)
    node["resourceType"] = _local(element)
    return node


def _xml_node(element: etree._Element, source: str) -> _Json:
    node: _Json = {}
    for attribute in ("url", "id"):
        if element.get(attribute) is not None:
            node[attribute] = element.get(attribute)
    for child in _elements(element):
        name = _local(child)
        if name == "text" and etree.QName(child).namespace == _FHIR_NS and _elements(child):
            continue  # narrative XHTML
        value: Any
        if name in _RESOURCE_WRAPPERS:
            inner = _elements(child)
            if not inner:
                continue
            value = _xml_resource(inner[0], source)
        elif child.get("value") is not None:
            value = child.get("value")
        else:
            value = _xml_node(child, source)
        node.setdefault(name, []).append(value)
    return node


def _elements(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]
