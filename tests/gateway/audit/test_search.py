"""Search by every filter with keyset pagination, and the accounting of disclosures per patient."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.audit import (
    AuditEvent,
    AuditFilter,
    Direction,
    DisclosureDirection,
    EventKind,
    Outcome,
    Transaction,
    accounting_of_disclosures,
    append_event,
    search,
)
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import (
    LOCAL,
    OUR_AUTHORITY,
    REMOTE,
    REMOTE_COMMUNITY,
    T0,
    api_access,
    iti38,
    iti39,
    iti55,
    pull_job,
    refusal,
    remote,
    requestor,
)
from xca.errors import AuditQueryError

OTHER_PATIENT = LOCAL.__class__(value="MRN-OTHER", assigning_authority=OUR_AUTHORITY)


@pytest.fixture
def filled(database: Database, tenant: Tenant) -> Database:
    events: list[AuditEvent] = [
        iti55(),  # 1
        iti38(),  # 2
        iti39(),  # 3
        iti39(
            Direction.RESPONDING, requestor=requestor("remote.doc", "1.2.3.77"), remote=remote("1.2.3.77")
        ),  # 4
        iti38(Direction.RESPONDING, patients=(OTHER_PATIENT,), remote=remote("1.2.3.77")),  # 5
        iti39(outcome=Outcome.SERIOUS_FAILURE, error_codes=("XDSRepositoryError",)),  # 6
        refusal(),  # 7
        pull_job(),  # 8
        api_access(),  # 9
    ]
    with database.session() as session, session.begin():
        for hour, event in enumerate(events):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
    return database


def _seqs(db: Database, tenant: Tenant, **where: object) -> list[int]:
    with db.session() as session:
        return [r.seq for r in search(session, tenant, AuditFilter(**where), limit=100).records]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({}, [9, 8, 7, 6, 5, 4, 3, 2, 1]),
        ({"patient": LOCAL.value}, [9, 8, 6, 4, 3, 2, 1]),
        ({"patient": f"{OUR_AUTHORITY}|{LOCAL.value}"}, [9, 8, 6, 4, 3, 2, 1]),
        ({"patient": f"urn:oid:9.9.9|{LOCAL.value}"}, []),
        ({"patient": REMOTE.value}, [6, 4, 3, 2, 1]),
        ({"user": "remote.doc"}, [4]),
        ({"organization": "urn:oid:1.2.3.77"}, [4]),
        ({"community": "1.2.3.77"}, [5, 4]),
        ({"community": REMOTE_COMMUNITY, "transaction": Transaction.ITI_39}, [6, 3]),
        ({"outcome": Outcome.SERIOUS_FAILURE}, [7, 6]),
        ({"kind": EventKind.REFUSAL}, [7]),
        ({"since": T0 + dt.timedelta(hours=2), "until": T0 + dt.timedelta(hours=4)}, [4, 3]),
    ],
)
def test_filters(filled: Database, tenant: Tenant, where: dict[str, object], expected: list[int]) -> None:
    assert _seqs(filled, tenant, **where) == expected


def test_keyset_pagination_visits_every_record_once(filled: Database, tenant: Tenant) -> None:
    seen: list[int] = []
    cursor = None
    with filled.session() as session:
        while True:
            page = search(session, tenant, AuditFilter(), limit=4, cursor=cursor)
            seen += [r.seq for r in page.records]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == list(range(9, 0, -1))


@pytest.mark.parametrize("cursor", ["garbage!", "OTk6Mw"])
def test_bad_cursor_and_limits_are_refused(filled: Database, tenant: Tenant, cursor: str) -> None:
    with filled.session() as session:
        with pytest.raises(AuditQueryError):
            search(session, tenant, AuditFilter(), cursor=cursor)
        with pytest.raises(AuditQueryError):
            search(session, tenant, AuditFilter(), limit=0)
    with pytest.raises(AuditQueryError):
        AuditFilter(since=dt.datetime(2026, 1, 1))


def test_accounting_of_disclosures(filled: Database, tenant: Tenant) -> None:
    with filled.session() as session:
        found = accounting_of_disclosures(session, tenant, LOCAL.value)
        other = accounting_of_disclosures(session, tenant, OTHER_PATIENT.value)
    # Pulled from the remote community (ITI-55/38/39), sent to 1.2.3.77 (ITI-39); a failed retrieve: nothing.
    assert [(d.seq, d.direction, d.transaction) for d in found] == [
        (1, DisclosureDirection.RECEIVED_FROM, Transaction.ITI_55),
        (2, DisclosureDirection.RECEIVED_FROM, Transaction.ITI_38),
        (3, DisclosureDirection.RECEIVED_FROM, Transaction.ITI_39),
        (4, DisclosureDirection.SENT_TO, Transaction.ITI_39),
    ]
    sent = found[-1]
    assert sent.remote_community == "1.2.3.77"
    assert sent.requesting_user == "Gregory House"
    assert sent.document_ids == ("1.2.3.4.100", "1.2.3.4.101")
    assert sent.purpose_of_use is not None
    assert [(d.seq, d.direction) for d in other] == [(5, DisclosureDirection.SENT_TO)]
