"""Request bodies under a size limit, for both ASGI apps (the responding gateway's SOAP endpoints and the FHIR
API): the declared ``Content-Length`` read safely, and the body read no further than one byte past the limit.
Each app decides what a body over its limit is (a SOAP Fault, a 413 OperationOutcome)."""

from __future__ import annotations

import re
from typing import Final

from starlette.requests import Request

__all__ = ["declared_length", "read_limited"]

# ASCII digits of a bounded length: str.isdigit() also takes '²' (a Latin-1 header byte) and int() refuses
# 4,300 digits, each a ValueError past every handler.
_DIGITS: Final = re.compile(r"[0-9]{1,20}")


def declared_length(request: Request) -> int | None:
    """The request's ``Content-Length``, or None when it has none or one that is not plain digits."""
    value = (request.headers.get("content-length") or "").strip()
    return int(value) if _DIGITS.fullmatch(value) else None


async def read_limited(request: Request, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the body: enough to know it is too large without holding all of it (a
    chunked body without end is not read to its end). A client that goes away meanwhile raises Starlette's
    ``ClientDisconnect``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]
