"""Engines, sessions and migrations. SQLite under ./var by default; PostgreSQL by URL, same migrations.

Alembic runs programmatically from the migrations shipped inside this package, so ``hiegate db upgrade`` and
the server's start-up need no ``alembic.ini`` in the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from xca.errors import DatabaseUnavailableError, MigrationError, PathAccessError

__all__ = ["Database", "current_revision", "head_revision", "require_existing", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling starts and commits transactions behind SQLAlchemy's back (a
    # SAVEPOINT before any write would commit on RELEASE). Turn it off; ``_sqlite_begin`` emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a read-then-write transaction waits (busy_timeout) instead
    # of failing when another writer committed in between. Readers are not blocked under WAL.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file the parent folder is created and foreign keys are on.

    ``hide_parameters``: a database error's message (and SQLAlchemy's statement logging) carries the SQL
    without its bound values. Those values are names, birth dates and identifiers searched for or stored, and
    such a message reaches the application log whenever an error is logged with its traceback."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


def require_existing(url: str, holds: str, hint: str = "check database_url") -> None:
    """Refuse a SQLite ``url`` whose file does not exist (HG-1002): a command that reads what an earlier one
    stored (the audit log, the directory, the jobs) would otherwise create an empty database at a mistyped
    path, with its folder, and report it empty. ``holds`` says what the file was to hold, ``hint`` what to
    do. Other databases are servers: reaching them is checked when connecting."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    assert parsed.database is not None
    if not Path(parsed.database).exists():
        raise PathAccessError(
            f"database file {parsed.database} does not exist: no {holds} there ({hint})",
            detail={"path": parsed.database},
        )


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(_MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def _unavailable(engine: Engine, exc: OperationalError) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}",
        detail={"reason": type(exc.orig).__name__ if exc.orig else "OperationalError"},
    )


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise _unavailable(engine, exc) from exc


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision``; returns the revision now applied."""
    try:
        command.upgrade(_alembic_config(engine), revision)
        applied = current_revision(engine)
    except OperationalError as exc:
        raise _unavailable(engine, exc) from exc
    except SQLAlchemyError as exc:
        raise MigrationError(f"migration to {revision} failed: {type(exc).__name__}") from exc
    assert applied is not None
    return applied


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(_alembic_config(engine), revision)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.engine = create_db_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> str:
        return upgrade(self.engine)

    def session(self) -> Session:
        return self.sessions()

    def dispose(self) -> None:
        self.engine.dispose()
