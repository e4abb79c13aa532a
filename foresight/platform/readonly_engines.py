"""How an outside database is opened read-only: its URL checked and rewritten (only
PostgreSQL and SQLite can promise read-only sessions), and the engines that keep every
session read-only with a statement deadline (used by :mod:`foresight.platform.sources`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from foresight.platform.errors import InvalidInput

REFUSED_DIALECT = (
    "Foresight opens an outside database read-only only on PostgreSQL "
    "(default_transaction_read_only) or SQLite (mode=ro); give a read replica's URL of one "
    "of those"
)
LOCK_TIMEOUT_MS = 1000  # a reader never queues long behind the owner's writes
IDLE_IN_TRANSACTION_MS = 60_000  # a forgotten transaction does not pin the owner's vacuum
POOL_SIZE = 2  # a reader needs few connections; the owner's server has other clients
SQLITE_PROGRESS_OPS = 10_000  # VM steps between deadline checks: well under 1 ms, <1 % cost
_PG_DRIVERS = {None, "psycopg"}


def readonly_url(url: str) -> URL:
    """``url`` checked and rewritten to open the database read-only.

    PostgreSQL stays (on the psycopg driver); SQLite becomes
    ``sqlite:///file:<absolute path>?mode=ro&uri=true``. Anything else, an in-memory or
    empty SQLite path, and a file that does not exist are refused with ``InvalidInput``.

    >>> str(readonly_url("postgresql://reader@db.example/rms"))
    'postgresql+psycopg://reader@db.example/rms'
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Never echo the text: it may hold a password.
        raise InvalidInput(
            "not a database URL; expected postgresql://user@host/dbname or "
            "sqlite:////absolute/path/to/file.db"
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return _postgresql_url(parsed)
    if backend == "sqlite":
        return _sqlite_url(parsed)
    raise InvalidInput(f"{backend!r} is not supported: {REFUSED_DIALECT}")


def _postgresql_url(parsed: URL) -> URL:
    driver = parsed.drivername.partition("+")[2] or None
    if driver not in _PG_DRIVERS:
        shown = parsed.render_as_string(hide_password=True)
        raise InvalidInput(
            f"{shown}: the PostgreSQL driver {driver!r} is not installed; "
            "use postgresql:// or postgresql+psycopg://"
        )
    return parsed.set(drivername="postgresql+psycopg")


def _sqlite_url(parsed: URL) -> URL:
    database = parsed.database or ""
    if parsed.query.get("uri") in ("true", "1") and database.startswith("file:"):
        database = unquote(database.removeprefix("file:"))  # already a URI filename
    if not database:
        raise InvalidInput("the SQLite URL names no file; give sqlite:////absolute/path/to/file.db")
    if database == ":memory:" or parsed.query.get("mode") == "memory":
        raise InvalidInput(
            "an in-memory SQLite database (:memory:) is empty and private to one "
            "connection; give the path of a database file"
        )
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise InvalidInput(
            f"the SQLite file {path} does not exist (mode=ro cannot create it); "
            "give the path of an existing database"
        )
    # '?', '#' and '%' would end or escape the path inside a URI filename.
    escaped = str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return URL.create("sqlite", database=f"file:{escaped}", query={"mode": "ro", "uri": "true"})


def postgresql_engine(url: URL, statement_timeout_ms: int, connect_timeout_s: int) -> Engine:
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout_ms} "
        f"-c lock_timeout={LOCK_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
    )
    return create_engine(
        url,
        # Passed here, these win over any ``options`` in the URL's query.
        connect_args={"options": options, "connect_timeout": connect_timeout_s},
        execution_options={"postgresql_readonly": True},
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        pool_timeout=connect_timeout_s,
        pool_pre_ping=True,
    )


def sqlite_engine(url: URL, statement_timeout_ms: int, connect_timeout_s: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": connect_timeout_s, "check_same_thread": False},
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        pool_timeout=connect_timeout_s,
    )
    budget = statement_timeout_ms / 1000

    @event.listens_for(engine, "connect")
    def _query_only(dbapi_connection: Any, _record: Any) -> None:
        # Never journal_mode: changing it writes to the owner's file.
        dbapi_connection.execute("PRAGMA query_only=ON")

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Connection, *_: Any) -> None:
        # Armed per statement and left armed while its rows are fetched; the next
        # statement re-arms it and a connection going back to the pool disarms it.
        deadline = time.monotonic() + budget
        handler: Callable[[], bool] = lambda: time.monotonic() > deadline  # noqa: E731
        conn.connection.dbapi_connection.set_progress_handler(  # type: ignore[union-attr]
            handler, SQLITE_PROGRESS_OPS
        )

    @event.listens_for(engine, "reset")
    def _disarm(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_progress_handler(None, 0)

    return engine
