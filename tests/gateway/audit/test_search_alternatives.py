"""``AuditFilter`` with several values for patient, user or outcome: any of them matches, in the SQL query
(the page limit counts only matching records), and a single value still works as before (``hiegate audit
search``)."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.audit import AuditEvent, AuditFilter, Outcome, PatientId, append_event, iter_records, search
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import OUR_AUTHORITY, T0, api_access, iti39, refusal, requestor
from xca.errors import AuditQueryError

ANN = PatientId(value="MRN-ANN", assigning_authority=OUR_AUTHORITY)
BEN = PatientId(value="MRN-BEN", assigning_authority=OUR_AUTHORITY)
CAL = PatientId(value="MRN-CAL", assigning_authority=OUR_AUTHORITY)


@pytest.fixture
def filled(database: Database, tenant: Tenant) -> Database:
    events: list[AuditEvent] = [
        api_access(patients=(ANN,), requestor=requestor("dr.ann")),  # 1
        api_access(patients=(BEN,), requestor=requestor("dr.ben")),  # 2
        api_access(patients=(CAL,), requestor=requestor("dr.cal")),  # 3
        iti39(patients=(ANN, BEN), outcome=Outcome.MAJOR_FAILURE, requestor=requestor("dr.ann")),  # 4
        refusal(),  # 5 (serious failure, no patient)
        api_access(patients=(CAL,), outcome=Outcome.MINOR_FAILURE, requestor=requestor("dr.cal")),  # 6
    ]
    with database.session() as session, session.begin():
        for hour, event in enumerate(events):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
    return database


def _seqs(db: Database, tenant: Tenant, where: AuditFilter, limit: int = 100) -> list[int]:
    with db.session() as session:
        return [r.seq for r in search(session, tenant, where, limit=limit).records]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (AuditFilter(patient=(ANN.value, f"{OUR_AUTHORITY}|{CAL.value}")), [6, 4, 3, 1]),
        (AuditFilter(patient=(f"urn:oid:{OUR_AUTHORITY}|{BEN.value}",)), [4, 2]),
        (AuditFilter(patient=("MRN-NOBODY", BEN.value)), [4, 2]),
        (AuditFilter(user=("dr.ben", "dr.cal")), [6, 3, 2]),
        (AuditFilter(user=("nobody", "dr.ann"), patient=(BEN.value,)), [4]),
        (AuditFilter(outcome=(Outcome.MINOR_FAILURE, Outcome.MAJOR_FAILURE)), [6, 4]),
        (AuditFilter(outcome=(Outcome.SUCCESS,), patient=(CAL.value, ANN.value)), [3, 1]),
        # One value, as `hiegate audit search --patient/--user/--outcome` passes it.
        (AuditFilter(patient=CAL.value), [6, 3]),
        (AuditFilter(user="dr.ann"), [4, 1]),
        (AuditFilter(outcome=Outcome.SERIOUS_FAILURE), [5]),
    ],
)
def test_alternatives_any_of(
    filled: Database, tenant: Tenant, where: AuditFilter, expected: list[int]
) -> None:
    assert _seqs(filled, tenant, where) == expected
    with filled.session() as session:
        assert [r.seq for r in iter_records(session, tenant, where)] == sorted(expected)


def test_alternatives_are_filtered_before_the_page_limit(filled: Database, tenant: Tenant) -> None:
    """The page holds matching records only: the filter is the query's, not applied to a fetched page."""
    where = AuditFilter(user=("dr.ann", "dr.ben"))
    assert _seqs(filled, tenant, where, limit=2) == [4, 2]
    with filled.session() as session:
        first = search(session, tenant, where, limit=2)
        assert first.next_cursor is not None
        rest = search(session, tenant, where, limit=2, cursor=first.next_cursor)
    assert [r.seq for r in rest.records] == [1]
    assert rest.next_cursor is None


@pytest.mark.parametrize("field", ["patient", "user", "outcome"])
def test_no_alternatives_is_refused(field: str) -> None:
    with pytest.raises(AuditQueryError, match=f"{field} filter has no alternatives"):
        AuditFilter(**{field: ()})  # type: ignore[arg-type]
