"""ITI-39 Cross Gateway Retrieve (IHE ITI TF-2b 3.39; RetrieveDocumentSet messages of ITI-43, 3.43).

Initiating side: :func:`build_iti39_request` then :func:`parse_iti39_response`. Responding side:
:func:`parse_iti39_request` then :func:`build_iti39_response`. :func:`to_http` packages a (signed) envelope
as MTOM/XOP or plain SOAP. Documents travel as MTOM attachments (zero-copy ``memoryview`` on read) or inline
base64.
"""

from xca.iti39.build import BuiltResponse, build_iti39_request, build_iti39_response, to_http
from xca.iti39.models import (
    DocumentRequest,
    Quirk,
    RetrievedDocument,
    RetrieveRequest,
    RetrieveResponse,
    Transport,
    UnreadableDocument,
)
from xca.iti39.parse import MAX_RESPONSE_BYTES, parse_iti39_request, parse_iti39_response

__all__ = [
    "MAX_RESPONSE_BYTES",
    "BuiltResponse",
    "DocumentRequest",
    "Quirk",
    "RetrieveRequest",
    "RetrieveResponse",
    "RetrievedDocument",
    "Transport",
    "UnreadableDocument",
    "build_iti39_request",
    "build_iti39_response",
    "parse_iti39_request",
    "parse_iti39_response",
    "to_http",
]
