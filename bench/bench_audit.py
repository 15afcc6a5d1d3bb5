"""Audit log throughput: appends to the hash chain, and ``verify_chain`` over a large chain, on SQLite.

Run: ``.venv/bin/python bench/bench_audit.py [--records 200000] [--runs 5] [--url sqlite:///...]``.

* append, batched: ``--records`` ITI-38/ITI-39 records, 1,000 per transaction (a bulk import's shape);
* append, one per transaction: 2,000 records each committed alone (an exchange's shape: the record is
  written in the exchange's own transaction);
* verify: the median records/s of ``--runs`` full verifications (stream, re-hash, link checks).

The database is a fresh file in a temporary folder unless ``--url`` names another (it must be empty).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gateway.audit import (
    Direction,
    DocumentRef,
    Outcome,
    PatientId,
    PatientIdRole,
    QueryParameter,
    RemotePeer,
    Requestor,
    Transaction,
    TransactionEvent,
    append_event,
    verify_chain,
)
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant

_REQUESTOR = Requestor(
    user_id="dr.bench",
    subject_id="Bench Doctor",
    npi="1234567893",
    organization="Bench Clinic",
    organization_id="2.16.840.1.113883.3.9999",
    home_community_id="2.16.840.1.113883.3.9999.1",
)
_REMOTE = RemotePeer(home_community_id="1.3.6.1.4.1.21367.13.20.1000", endpoint="https://gw.example.org/xca")


def _event(n: int) -> TransactionEvent:
    retrieve = n % 2 == 1
    return TransactionEvent(
        transaction=Transaction.ITI_39 if retrieve else Transaction.ITI_38,
        direction=Direction.INITIATING,
        outcome=Outcome.SUCCESS,
        requestor=_REQUESTOR,
        remote=_REMOTE,
        patients=(
            PatientId(value=f"MRN{n % 5000:06d}", assigning_authority="2.16.840.1.113883.3.9999.1.2"),
            PatientId(
                value=f"R{n % 5000:06d}",
                assigning_authority="1.3.6.1.4.1.21367.13.20.1000.1",
                role=PatientIdRole.REMOTE,
            ),
        ),
        query_parameters=()
        if retrieve
        else (QueryParameter(name="$XDSDocumentEntryStatus", value="Approved"),),
        documents=(DocumentRef(unique_id=f"1.2.3.4.{n}", repository_id="1.2.3.4.9"),) if retrieve else (),
        message_id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        latency_ms=120 + n % 300,
        request_bytes=2800,
        response_bytes=9000,
    )


def _append(db: Database, tenant: Tenant, count: int, per_transaction: int, offset: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, per_transaction):
        with db.session() as session, session.begin():
            for n in range(start, min(start + per_transaction, count)):
                append_event(session, tenant, _event(offset + n))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(args.url or f"sqlite:///{Path(folder) / 'bench.db'}")
        db.upgrade()
        with db.session() as session, session.begin():
            tenant = ensure_tenant(session, "bench", "Bench")
        batched = _append(db, tenant, args.records, 1000, 0)
        single = _append(db, tenant, 2000, 1, args.records)
        total = args.records + 2000
        print(f"{db.engine.dialect.name}: {total:,} records")
        print(f"append, 1,000 per transaction: {batched:,.0f} records/s")
        print(f"append, 1 per transaction:     {single:,.0f} records/s")
        rates = []
        for _ in range(args.runs):
            with db.session() as session:
                started = time.perf_counter()
                result = verify_chain(session, tenant)
                elapsed = time.perf_counter() - started
            assert result.ok, result
            assert result.records == total, result
            rates.append(total / elapsed)
        print(
            f"verify: median {statistics.median(rates):,.0f} records/s over {args.runs} runs "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f})"
        )
        db.dispose()


if __name__ == "__main__":
    main()
