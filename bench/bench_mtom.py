"""Reading a 50 MB MTOM ITI-39 response: xca.mtom.read_mtom against the standard library's email parser.

Run: ``.venv/bin/python bench/bench_mtom.py [--size-mb 50] [--runs 5]``. Prints the median wall time of
``--runs`` runs (timed without tracing) and the tracemalloc peak of one extra traced run, for each reader:

* ``read_mtom``: boundaries found with ``bytes.find``, parts are memoryviews into the body;
* ``parse_iti39_response``: read_mtom plus hardened XML parse of the root part and XOP resolution;
* ``email BytesParser``: ``email.parser.BytesParser(policy=email.policy.default)``, the named alternative,
  then ``get_payload(decode=True)`` to obtain the document bytes.

Each reader's result is checked against the payload, so the numbers compare readers that give the same answer.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

from xca.iti39 import RetrievedDocument, build_iti39_response, parse_iti39_response, to_http
from xca.mtom import read_mtom
from xca.soap import Action, Addressing, build_envelope

_LINE = b'<observation classCode="OBS"><value xsi:type="PQ" value="%06d" unit="mg/dL"/></observation>\r\n'


def _payload(size: int) -> bytes:
    """A C-CDA-like text document of exactly ``size`` bytes (line-oriented, as clinical XML is)."""
    lines = (_LINE % (n % 1_000_000) for n in range(size // len(_LINE % 0) + 1))
    return b"".join(lines)[:size]


def _response(payload: bytes) -> tuple[bytes, str]:
    document = RetrievedDocument("1.2.3.4", "1.2.3.4.1", "1.2.3.4.2.1", "text/xml", payload)
    built = build_iti39_response([document])
    envelope = build_envelope(built.body, Addressing.response(Action.ITI39_RESPONSE, relates_to="urn:uuid:1"))
    return to_http(envelope, built.attachments)


def _with_read_mtom(body: bytes, content_type: str) -> bytes | memoryview:
    message = read_mtom(body, content_type)
    return next(iter(message.attachments.values())).content


def _with_parse_iti39(body: bytes, content_type: str) -> bytes | memoryview:
    return parse_iti39_response(body, content_type).documents[0].content


def _with_email(body: bytes, content_type: str) -> bytes | memoryview:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + content_type.encode("ascii") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    parts = list(message.iter_parts())
    content = parts[1].get_payload(decode=True)
    assert isinstance(content, bytes)
    return content


def _measure(
    reader: Callable[[bytes, str], bytes | memoryview], body: bytes, ct: str, runs: int
) -> tuple[float, int]:
    times: list[float] = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = reader(body, ct)
        times.append(time.perf_counter() - start)
        del result
    gc.collect()
    tracemalloc.start()
    result = reader(body, ct)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    payload = _payload(args.size_mb * 1024 * 1024)
    body, content_type = _response(payload)
    readers: list[tuple[str, Callable[[bytes, str], bytes | memoryview]]] = [
        ("read_mtom", _with_read_mtom),
        ("parse_iti39_response", _with_parse_iti39),
        ("email BytesParser", _with_email),
    ]
    for name, reader in readers:
        if reader(body, content_type) != payload:
            raise SystemExit(f"{name} did not return the payload")
    mib = 1024 * 1024
    sizes = f"payload {len(payload) / mib:.1f} MiB, HTTP body {len(body) / mib:.1f} MiB"
    print(f"{sizes}, median of {args.runs} runs")
    print(f"{'reader':<22} {'median ms':>10} {'peak MiB':>9} {'peak/payload':>13}")
    for name, reader in readers:
        median, peak = _measure(reader, body, content_type, args.runs)
        print(f"{name:<22} {median * 1000:>10.1f} {peak / mib:>9.2f} {peak / len(payload):>12.2f}x")


if __name__ == "__main__":
    main()
