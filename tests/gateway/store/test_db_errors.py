"""A database error never carries the values bound to its statement: they are names, birth dates and
identifiers, and an error's message reaches the application log with its traceback."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.store import Database

MARKER = "Montgomery-1949-09-12-MRN1"


def test_a_failed_statement_names_no_bound_value(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(DBAPIError) as failed, database.session() as session:
        session.execute(text("SELECT * FROM no_such_table WHERE family = :family"), {"family": MARKER})
    logging.getLogger("hiegate.test").exception("as an error handler logs it", exc_info=failed.value)
    assert "no_such_table" in str(failed.value)  # the statement is still named
    assert MARKER not in str(failed.value)
    assert MARKER not in caplog.text
