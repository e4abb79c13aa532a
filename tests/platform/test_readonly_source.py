"""The read-only outside-database source, on SQLite files and on the local PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import column, create_engine, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from structlog.testing import capture_logs

from foresight.platform.errors import InvalidInput, SourceUnavailable
from foresight.platform.readonly_engines import REFUSED_DIALECT, readonly_url
from foresight.platform.sources import ReadOnlySource
from tests.servers import free_port

SLOW_CTE = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
    "SELECT count(*) FROM c"
)


def make_orders_db(url: str) -> None:
    """An ``orders`` table with two rows and a view, written through an ordinary engine."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, total REAL)"))
        conn.execute(text("INSERT INTO orders VALUES (1, 10.5), (2, 7.25)"))
        conn.execute(text("CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 10"))
    engine.dispose()


@pytest.fixture
def source_url(db_url: str) -> str:
    make_orders_db(db_url)
    return db_url


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "rms.sqlite"
    make_orders_db(f"sqlite:///{path}")
    return path


@contextmanager
def opened(url: str, **kwargs: object) -> Iterator[ReadOnlySource]:
    source = ReadOnlySource.open(url, **kwargs)  # type: ignore[arg-type]
    try:
        yield source
    finally:
        source.dispose()


# -- URLs ------------------------------------------------------------------------------


def test_sqlite_urls_become_read_only_uris(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sqlite_file.parent)
    url = readonly_url("sqlite:///rms.sqlite")
    assert url.database == f"file:{sqlite_file.resolve()}"
    assert dict(url.query) == {"mode": "ro", "uri": "true"}
    assert make_url(str(url)) == url
    assert readonly_url(f"sqlite:///file:{sqlite_file}?mode=rwc&uri=true") == url


def test_postgresql_urls_keep_their_server_on_psycopg() -> None:
    url = readonly_url("postgresql://reader:pw@db.example:6543/rms?sslmode=require")
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("db.example", 6543, "rms", "reader")
    assert url.query["sslmode"] == "require"
    assert readonly_url("postgresql+psycopg://reader@db/rms") == make_url(
        "postgresql+psycopg://reader@db/rms"
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", "names no file"),
        ("sqlite:////nowhere/rms.sqlite", "mode=ro cannot create it"),
        ("mysql://reader:hunter22@db.example/rms", REFUSED_DIALECT),
        ("mssql+pyodbc://reader@db.example/rms", REFUSED_DIALECT),
        ("postgresql+asyncpg://reader@db.example/rms", "postgresql+psycopg://"),
        ("not a url at all", "not a database URL"),
    ],
)
def test_refused_urls_say_why(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ReadOnlySource.open(url)
    assert says in caught.value.message
    assert "hunter22" not in caught.value.message


def test_odd_characters_in_a_path_stay_in_the_path(tmp_path: Path) -> None:
    path = tmp_path / "rms?v=2 #1 100%.sqlite"
    url = URL.create("sqlite", database=str(path)).render_as_string()
    make_orders_db(url)
    assert path.is_file()
    with opened(url) as source:
        assert source.scalar(text("SELECT count(*) FROM orders")) == 2
        assert source.display_url.startswith(f"sqlite:///file:{tmp_path}/rms%3fv=2 %231 100%25")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_directory_is_not_a_database_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        readonly_url(f"sqlite:///{tmp_path}")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just words " * 100)
    with pytest.raises(InvalidInput, match="not a readable SQLite database"):
        ReadOnlySource.open(f"sqlite:///{path}")


# -- both backends ---------------------------------------------------------------------


def test_reads_frames_and_scalars(source_url: str) -> None:
    with opened(source_url) as source:
        orders = table("orders", column("order_id"), column("total"))
        frame = source.frame(
            select(orders.c.order_id, orders.c.total)
            .where(orders.c.total > text(":least"))
            .order_by(orders.c.order_id),
            {"least": 8},
        )
        assert frame.to_dict("list") == {"order_id": [1], "total": [10.5]}
        assert source.scalar(text("SELECT count(*) FROM orders")) == 2
        assert source.frame(text("SELECT * FROM orders WHERE order_id < 0")).columns.tolist() == [
            "order_id",
            "total",
        ]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO orders VALUES (3, 1.0)",
        "UPDATE orders SET total = 0",
        "DELETE FROM orders",
        "CREATE TABLE intruder (x INTEGER)",
    ],
)
def test_a_write_through_the_source_fails(source_url: str, statement: str) -> None:
    with opened(source_url) as source, pytest.raises(DBAPIError, match=r"read-?only"):
        source.scalar(text(statement))
    engine = create_engine(source_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sum(total) FROM orders")).scalar() == 17.75
    engine.dispose()


def test_columns_are_reflected_for_tables_and_views(source_url: str) -> None:
    with opened(source_url) as source:
        columns = source.columns()
    assert columns["orders"] == ["order_id", "total"]
    assert columns["big_orders"] == ["order_id", "total"]


def test_only_the_tables_asked_for_are_reflected(source_url: str) -> None:
    with opened(source_url) as source:
        asked = source.columns(["big_orders", "missing", "big_orders"])
    assert asked == {"big_orders": ["order_id", "total"]}  # the missing one left out


def test_a_new_statement_after_a_timeout_runs_normally(source_url: str) -> None:
    slow = text("SELECT pg_sleep(2)") if source_url.startswith("postgresql") else SLOW_CTE
    with opened(source_url, statement_timeout_ms=100) as source:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            source.scalar(slow)
        assert time.monotonic() - started < 1.5
        assert "100 ms statement timeout" in caught.value.message
        assert source.display_url in caught.value.message
        assert caught.value.status == 503
        assert source.scalar(text("SELECT count(*) FROM orders")) == 2


# -- SQLite ----------------------------------------------------------------------------


def test_sqlite_source_leaves_the_file_untouched(sqlite_file: Path) -> None:
    before = sqlite_file.read_bytes()
    with opened(f"sqlite:///{sqlite_file}") as source:
        with pytest.raises(DBAPIError):
            source.scalar(text("PRAGMA journal_mode=WAL"))
        source.frame(text("SELECT * FROM orders"))
        guarantees = source.guarantees
    assert sqlite_file.read_bytes() == before
    assert sorted(p.name for p in sqlite_file.parent.iterdir()) == ["rms.sqlite"]
    assert guarantees.dialect == "sqlite"
    assert guarantees.session_read_only
    assert guarantees.role_can_write == ()
    assert guarantees.statement_timeout_ms == 5000


def test_sqlite_locked_by_a_writer_is_unavailable(sqlite_file: Path) -> None:
    with opened(f"sqlite:///{sqlite_file}", connect_timeout_s=1) as source:
        writer = sqlite3.connect(sqlite_file, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(SourceUnavailable, match="locked"):
                source.scalar(text("SELECT count(*) FROM orders"))
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert source.scalar(text("SELECT count(*) FROM orders")) == 2


# -- PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
def login_role(pg_url: str) -> Iterator[str]:
    """A throwaway LOGIN role (no password: local connections are trusted), dropped after."""
    role = f"fs_reader_{uuid.uuid4().hex[:8]}"
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    yield role
    with engine.connect() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


def as_role(pg_url: str, role: str) -> str:
    return make_url(pg_url).set(username=role).render_as_string(hide_password=False)


def grant(pg_url: str, *statements: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def test_a_superuser_is_reported_as_able_to_write(pg_url: str) -> None:
    make_orders_db(pg_url)
    with opened(pg_url, tables=["orders"]) as source:
        assert source.guarantees.role_can_write == ("*",)
        assert source.guarantees.session_read_only
        assert source.guarantees.level == "session"
        assert source.guarantees.statement_timeout_ms == 5000
    with pytest.raises(InvalidInput, match="superuser"):
        ReadOnlySource.open(pg_url, require_readonly_role=True)


def test_a_role_that_may_insert_is_reported_and_refused_on_demand(
    pg_url: str, login_role: str
) -> None:
    make_orders_db(pg_url)
    grant(
        pg_url,
        'CREATE SCHEMA rms; CREATE TABLE rms."Items" (item_id INTEGER, name TEXT)',
        f"GRANT SELECT ON orders, big_orders TO {login_role}",
        f"GRANT USAGE ON SCHEMA rms TO {login_role}",
        f'GRANT SELECT, INSERT ON rms."Items" TO {login_role}',
    )
    url = as_role(pg_url, login_role)
    asked = ["orders", "rms.Items", "missing_table"]
    with opened(url, tables=asked) as source:
        assert source.guarantees.role_can_write == ("rms.Items",)
        assert source.guarantees.level == "session"
        assert source.columns()["rms.Items"] == ["item_id", "name"]
        with pytest.raises(DBAPIError):
            source.scalar(text("INSERT INTO rms.\"Items\" VALUES (1, 'x')"))
    with capture_logs() as logs, opened(url) as source:
        assert source.guarantees.role_can_write == ("rms.Items",)
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["readonly_source_role_can_write"]
    assert "rms.Items" in warnings[0]["role"]
    with pytest.raises(InvalidInput, match=r"may write rms\.Items"):
        ReadOnlySource.open(url, tables=asked, require_readonly_role=True)

    grant(pg_url, f'REVOKE INSERT ON rms."Items" FROM {login_role}')
    with opened(url, tables=asked, require_readonly_role=True) as source:
        assert source.guarantees.role_can_write == ()
        assert source.guarantees.level == "session+role"


def test_the_password_never_appears_in_a_message(pg_url: str) -> None:
    make_orders_db(pg_url)
    # Local connections are trusted, so the server accepts and ignores the password.
    url = make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    with opened(url, statement_timeout_ms=100) as source:
        assert "s3cret-pw" not in source.display_url
        assert "s3cret-pw" not in repr(source)
        with pytest.raises(SourceUnavailable) as caught:
            source.scalar(text("SELECT pg_sleep(2)"))
    assert "s3cret-pw" not in str(caught.value)
    assert "***" in str(caught.value)


def test_an_unreachable_server_is_unavailable_quickly() -> None:
    url = f"postgresql://reader:s3cret-pw@127.0.0.1:{free_port()}/rms"
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        ReadOnlySource.open(url, connect_timeout_s=2)
    assert time.monotonic() - started < 3
    message = caught.value.message
    assert "2 s connect timeout" in message
    assert "reader:***@127.0.0.1" in message
    assert "s3cret-pw" not in message
