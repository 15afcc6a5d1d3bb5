"""ITI-38 Cross Gateway Query (XCA), both directions (IHE ITI TF-2b 3.38; metadata per ITI TF-3 4.2.3).

Initiating side: :func:`build_iti38_request` (FindDocuments / GetDocuments) and :func:`parse_iti38_response`
(tolerant, models what was sent). Responding side: :func:`parse_iti38_request` (returns the registry errors
to send as values) and :func:`build_iti38_response`. All four work on the SOAP body payload; wrap and unwrap
with :mod:`xca.soap` (``Action.ITI38_REQUEST`` / ``Action.ITI38_RESPONSE``).
"""

from xca.iti38.build import build_iti38_request, build_iti38_response
from xca.iti38.constants import (
    AvailabilityStatus,
    ClassificationScheme,
    EntryType,
    ExternalIdentifierScheme,
    QueryParam,
    Quirk,
    ReturnType,
    StoredQueryId,
)
from xca.iti38.dtm import Dtm, Precision
from xca.iti38.models import (
    Author,
    Code,
    DocumentEntry,
    FindDocumentsQuery,
    GetDocumentsQuery,
    Iti38Request,
    ObjectRef,
    ParsedIti38Request,
    QueryResponse,
    StoredQuery,
)
from xca.iti38.parse import parse_iti38_request, parse_iti38_response

__all__ = [
    "Author",
    "AvailabilityStatus",
    "ClassificationScheme",
    "Code",
    "DocumentEntry",
    "Dtm",
    "EntryType",
    "ExternalIdentifierScheme",
    "FindDocumentsQuery",
    "GetDocumentsQuery",
    "Iti38Request",
    "ObjectRef",
    "ParsedIti38Request",
    "Precision",
    "QueryParam",
    "QueryResponse",
    "Quirk",
    "ReturnType",
    "StoredQuery",
    "StoredQueryId",
    "build_iti38_request",
    "build_iti38_response",
    "parse_iti38_request",
    "parse_iti38_response",
]
