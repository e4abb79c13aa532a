"""Read-only access to an outside database that belongs to someone else.

The platform's own ``Database`` writes on connect (``PRAGMA journal_mode=WAL``), so it must
never open another system's database; a :class:`ReadOnlySource` does, read-only:

- PostgreSQL: sessions start with ``default_transaction_read_only=on`` and a statement
  timeout, and transactions are ``BEGIN READ ONLY``. That prevents accidents, not malice (a
  session may set it back off): the real guarantee is a login role that cannot write, which
  ``guarantees`` reports.
- SQLite: the file is opened ``mode=ro`` with ``query_only``; a progress handler stops a
  statement past its deadline (SQLite has no statement timeout).

At run time an unreachable database or a timeout raises ``SourceUnavailable`` (HTTP 503),
naming the URL with its password hidden.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote

import pandas as pd
import sqlalchemy
import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.exc import DBAPIError, InterfaceError, NoSuchTableError, OperationalError
from sqlalchemy.sql import Executable

from foresight.platform.errors import InvalidInput, SourceUnavailable
from foresight.platform.readonly_engines import (
    IDLE_IN_TRANSACTION_MS,
    LOCK_TIMEOUT_MS,
    postgresql_engine,
    readonly_url,
    sqlite_engine,
)

log = structlog.get_logger(__name__)

WRITE_PRIVILEGES = "INSERT,UPDATE,DELETE,TRUNCATE"

# PostgreSQL errors that are a timeout, by SQLSTATE: which timeout ran out.
_PG_TIMEOUTS = {"57014": "statement", "55P03": "lock", "25P03": "idle-in-transaction"}
# SQLite primary result codes that mean "not now", not "wrong query".
_SQLITE_UNAVAILABLE = {"BUSY", "LOCKED", "CANTOPEN", "IOERR", "INTERRUPT", "PROTOCOL"}
_STATEMENT_TIMEOUT = "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"
_SUPERUSER = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"


@dataclass(frozen=True)
class ReadOnlyGuarantees:
    """What keeps a source read-only, as checked when it was opened."""

    dialect: str
    session_read_only: bool
    # Tables (of those asked about; every table when none were) the login role may write;
    # ("*",) for a superuser. Always empty on SQLite, whose file is opened mode=ro.
    role_can_write: tuple[str, ...]
    statement_timeout_ms: int

    @property
    def level(self) -> str:
        """``"session+role"`` when the login role cannot write either, else ``"session"``."""
        return "session" if self.role_can_write else "session+role"


class ReadOnlySource:
    """An outside database opened read-only; build one with :meth:`open`."""

    display_url: str
    guarantees: ReadOnlyGuarantees

    def __init__(self, engine: Engine, url: URL, *, statement_ms: int, connect_s: int) -> None:
        self._engine = engine
        self._dialect = url.get_backend_name()
        self._password = url.password if isinstance(url.password, str) else None
        self._statement_timeout_ms = statement_ms
        self._connect_timeout_s = connect_s
        shown = url.render_as_string(hide_password=True)
        # SQLAlchemy escapes the ':' of "file:"; people read the path as SQLite does.
        self.display_url = unquote(shown) if self._dialect == "sqlite" else shown

    @classmethod
    def open(
        cls,
        url: str,
        *,
        statement_timeout_ms: int = 5000,
        connect_timeout_s: int = 5,
        require_readonly_role: bool = False,
        tables: Sequence[str] = (),
    ) -> ReadOnlySource:
        """Connect read-only and check the guarantees; refuse what cannot be kept.

        Raises ``InvalidInput`` for a refused URL, a session that is not read-only, or
        (with ``require_readonly_role``) a login role that may write one of ``tables``;
        ``SourceUnavailable`` when the database cannot be reached.
        """
        target = readonly_url(url)
        if statement_timeout_ms < 1 or connect_timeout_s < 1:
            raise InvalidInput("statement_timeout_ms and connect_timeout_s must be positive")
        if target.get_backend_name() == "postgresql":
            engine = postgresql_engine(target, statement_timeout_ms, connect_timeout_s)
        else:
            engine = sqlite_engine(target, statement_timeout_ms, connect_timeout_s)
        source = cls(engine, target, statement_ms=statement_timeout_ms, connect_s=connect_timeout_s)
        try:
            if source._dialect == "sqlite":
                source.guarantees = source._check_sqlite()
            else:
                source.guarantees = source._check_postgresql(tables, require_readonly_role)
        except BaseException:
            engine.dispose()
            raise
        return source

    def frame(self, query: Executable, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """The rows of a SELECT as a DataFrame, one column per selected column."""
        with self._connection() as conn:
            result = conn.execute(query, dict(params or {}))
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def scalar(self, query: Executable, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None when there is no row)."""
        with self._connection() as conn:
            return conn.execute(query, dict(params or {})).scalar()

    def columns(self, tables: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Tables and views with their column names, reflected from the database.

        Without ``tables``: every one, keyed schema-qualified (``"schema.table"``) outside
        the default schema. With ``tables``: only those, keyed by the name as given (a
        ``"schema.table"`` name is looked up in that schema); a missing one is left out.
        Asking for the few tables one needs keeps a large database's reflection cheap."""
        out: dict[str, list[str]] = {}
        with self._connection() as conn:
            inspector = sqlalchemy.inspect(conn)
            if tables is not None:
                for name in dict.fromkeys(tables):
                    schema, _, bare = name.rpartition(".")
                    try:
                        cols = inspector.get_columns(bare, schema=schema or None)
                    except NoSuchTableError:
                        continue
                    out[name] = [c["name"] for c in cols]
                return out
            default = inspector.default_schema_name
            for schema in inspector.get_schema_names():
                if schema == "information_schema":
                    continue
                reflected = inspector.get_multi_columns(
                    schema=None if schema == default else schema, kind=ObjectKind.ANY
                )
                for (_, name), cols in reflected.items():
                    key = name if schema == default else f"{schema}.{name}"
                    out[key] = [c["name"] for c in cols]
        return dict(sorted(out.items()))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"ReadOnlySource({self.display_url!r})"

    # -- checks on open ------------------------------------------------------------------

    def _check_postgresql(self, tables: Sequence[str], require_role: bool) -> ReadOnlyGuarantees:
        with self._connection() as conn:
            in_transaction = conn.exec_driver_sql("SHOW transaction_read_only").scalar()
            by_default = conn.exec_driver_sql("SHOW default_transaction_read_only").scalar()
            timeout = conn.scalar(text(_STATEMENT_TIMEOUT))
            superuser = conn.scalar(text(_SUPERUSER))
            writable = ("*",) if superuser else _writable_tables(conn, tables)
        if in_transaction != "on":
            raise InvalidInput(
                f"{self.display_url}: the server did not open a read-only transaction "
                "(SHOW transaction_read_only is off), so Foresight will not read from it"
            )
        if writable:
            what = "is a superuser" if writable == ("*",) else f"may write {', '.join(writable)}"
            if require_role:
                raise InvalidInput(
                    f"{self.display_url}: the login role {what}; connect as a role with "
                    "SELECT only (GRANT SELECT ... TO a new LOGIN role), or allow a writable one"
                )
            # Said once, on open: the session setting alone can be turned back off.
            log.warning("readonly_source_role_can_write", url=self.display_url, role=what)
        return ReadOnlyGuarantees(
            dialect="postgresql",
            session_read_only=by_default == "on",
            role_can_write=writable,
            statement_timeout_ms=int(timeout or 0),
        )

    def _check_sqlite(self) -> ReadOnlyGuarantees:
        try:
            with self._connection() as conn:
                query_only = conn.exec_driver_sql("PRAGMA query_only").scalar()
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
        except DBAPIError as exc:
            raise InvalidInput(
                f"{self.display_url} is not a readable SQLite database: {self._reason(exc)}"
            ) from exc
        return ReadOnlyGuarantees(
            dialect="sqlite",
            session_read_only=bool(query_only),
            role_can_write=(),
            statement_timeout_ms=self._statement_timeout_ms,
        )

    # -- run-time failures ---------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection; unreachable or timed-out becomes ``SourceUnavailable``."""
        try:
            conn = self._engine.connect()
        except (DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            raise self._unavailable(exc, connecting=True) from exc
        try:
            with conn:
                yield conn
        except DBAPIError as exc:
            if self._is_unavailable(exc):
                raise self._unavailable(exc, connecting=False) from exc
            raise

    def _is_unavailable(self, exc: DBAPIError) -> bool:
        if exc.connection_invalidated:
            return True
        if self._dialect == "sqlite":
            # OperationalError also covers "no such table" and writes refused by mode=ro.
            name = getattr(exc.orig, "sqlite_errorname", "") or ""
            return name.removeprefix("SQLITE_").split("_")[0] in _SQLITE_UNAVAILABLE
        return isinstance(exc, OperationalError | InterfaceError)

    def _unavailable(self, exc: Exception, *, connecting: bool) -> SourceUnavailable:
        orig = getattr(exc, "orig", None)
        ran_out = _PG_TIMEOUTS.get(getattr(orig, "sqlstate", None) or "")
        if getattr(orig, "sqlite_errorname", None) == "SQLITE_INTERRUPT":
            ran_out = "statement"
        limits = {"lock": LOCK_TIMEOUT_MS, "idle-in-transaction": IDLE_IN_TRANSACTION_MS}
        if ran_out:
            ms = limits.get(ran_out, self._statement_timeout_ms)
            what = f"did not answer within the {ms} ms {ran_out} timeout"
        elif connecting and self._dialect == "postgresql":
            what = f"could not be reached within the {self._connect_timeout_s} s connect timeout"
        elif connecting:
            what = "could not be opened"
        else:
            what = "is unavailable"
        return SourceUnavailable(
            f"the outside database {self.display_url} {what} ({self._reason(exc)}); retry shortly"
        )

    def _reason(self, exc: Exception) -> str:
        """The driver's first line, without SQLAlchemy's wrapping or any password."""
        orig = getattr(exc, "orig", None) or exc
        reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
        if self._password:
            # The drivers do not echo passwords; this is a backstop, not the mechanism.
            for secret in {self._password, quote_plus(self._password)}:
                reason = reason.replace(secret, "***")
        return reason


def _writable_tables(conn: Connection, tables: Sequence[str]) -> tuple[str, ...]:
    """Which of ``tables`` (every user table when none) the login role may write."""
    if not tables:
        rows = conn.execute(
            text(
                "SELECT n.nspname, c.relname, n.nspname = current_schema() "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'f') "
                "AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' "
                "AND has_table_privilege(current_user, c.oid, :privileges) "
                "ORDER BY 1, 2"
            ),
            {"privileges": WRITE_PRIVILEGES},
        ).all()
        return tuple(name if default else f"{schema}.{name}" for schema, name, default in rows)
    check = text("SELECT has_table_privilege(current_user, to_regclass(:name)::oid, :privileges)")
    # A missing table gives NULL (not a write); the mapping check reports it.
    return tuple(
        name
        for name in tables
        if conn.scalar(check, {"name": _qualified(name), "privileges": WRITE_PRIVILEGES})
    )


def _qualified(name: str) -> str:
    """``schema.table`` quoted part by part, matching SQLAlchemy's case-sensitive names."""
    if '"' in name:
        return name
    return ".".join('"' + part + '"' for part in name.split(".", 1))
