"""No patient identifier or demographic reaches the application log: the audit tables are the one place."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from gateway.audit import (
    AuditFilter,
    AuditLog,
    ExportFormat,
    accounting_of_disclosures,
    export_records,
    iter_records,
    search,
    verify_chain,
)
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import FAMILY_NAME, LOCAL_MRN, REMOTE_MRN, SOURCE, every_path

PHI = (LOCAL_MRN, REMOTE_MRN, FAMILY_NAME)


def test_writes_searches_exports_and_verify_log_no_phi(
    database: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    audit = AuditLog(source=SOURCE)
    with database.session() as session, session.begin():
        for event in every_path().values():
            audit.record(session, tenant, event)
    with database.session() as session:
        search(session, tenant, AuditFilter(patient=LOCAL_MRN))
        accounting_of_disclosures(session, tenant, LOCAL_MRN)
        assert verify_chain(session, tenant).ok
        for export_format in ExportFormat:
            out = io.BytesIO()
            export_records(iter_records(session, tenant, AuditFilter()), out, export_format, SOURCE)
            assert LOCAL_MRN.encode() in out.getvalue()  # the export itself is where the PHI belongs
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records, "expected some DEBUG logging to inspect"
    for value in PHI:
        assert value not in logged
