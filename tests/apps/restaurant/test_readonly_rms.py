"""The app never writes to the RMS (issue 10): against the PostgreSQL on this machine, an
RMS login role with SELECT only, the whole read path (check, incremental and full sync,
the scheduled sync task, the health probe, answers, a push) leaves every RMS table
byte-for-byte as it was; a write through the app's own connection fails; and a login
role that could write is refused when the setting asks for a read-only role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from foresight.api.app import create_app
from foresight.apps.restaurant import push
from foresight.apps.restaurant.model import DEMAND
from foresight.apps.restaurant.service import RestaurantService
from foresight.cli import app as cli
from foresight.platform.runtime import Platform
from tests.apps.restaurant.conftest import make_rms
from tests.conftest import make_keys, make_settings


@pytest.fixture
def reader_role(pg_url: str) -> Iterator[str]:
    """An RMS in ``pg_url`` and a LOGIN role that may only read it (dropped after)."""
    make_rms(pg_url, days=35)
    role = f"fs_rms_reader_{uuid.uuid4().hex[:8]}"
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    yield role
    with engine.connect() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and the md5 of its rows in a fixed order."""
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            row = conn.execute(
                text(
                    "SELECT count(*), "
                    "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f'FROM "{table}" t'
                )
            ).one()
            out[table] = (int(row[0]), str(row[1]))
    engine.dispose()
    return out


def test_the_app_never_writes_to_the_rms(
    pg_url: str, reader_role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_reader = make_url(pg_url).set(username=reader_role).render_as_string(hide_password=False)
    before = fingerprint(pg_url)
    assert before["orders"][0] > 500
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_URL", as_reader)
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_REQUIRE_READONLY_ROLE", "true")
    p = Platform.create(make_settings(tmp_path / "fs"))
    try:
        env = {
            "FORESIGHT_DATA_DIR": str(p.settings.data_dir),
            "FORESIGHT_APPS": ",".join(p.settings.apps),
            "COLUMNS": "200",
        }
        r = CliRunner().invoke(cli, ["restaurant", "check-rms"], env=env)
        assert r.exit_code == 0, r.output
        assert "session+role" in r.output

        service = p.service_of(RestaurantService)
        first = service.sync_now()
        assert first.rows["orders"] == before["orders"][0]
        service.sync_now()
        service.sync_now(full=True)
        assert p.scheduler.run_now("restaurant:sync").last_status == "succeeded"
        assert service.rms_health.probe() | {"checked_at": None} == {
            "ok": True,
            "checked_at": None,
            "read_only": "session+role",
            "lag_seconds": service.rms_health.lag_seconds(),
        }
        with TestClient(create_app(p)) as client:
            keys = make_keys(p)
            r = client.get(
                "/api/v1/restaurant/demand",
                params={"start": "2015-04-06", "end": "2015-04-07"},
                headers=keys["service"],
            )
            assert r.status_code == 200, r.text
            assert client.post("/api/v1/restaurant/sync", headers=keys["admin"]).is_success
        push.publish(service, DEMAND)

        # The app's own connection cannot write, even if some code tried.
        source = service.reader().source
        for statement in (
            "UPDATE orders SET status = 'void'",
            "DELETE FROM order_items",
            "CREATE TABLE foresight_was_here (x INTEGER)",
        ):
            with pytest.raises(DBAPIError, match=r"read-only|permission denied"):
                source.scalar(text(statement))
    finally:
        p.close()
    assert fingerprint(pg_url) == before


def test_a_login_role_that_could_write_is_refused_with_the_setting_named(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_rms(pg_url, days=3)
    before = fingerprint(pg_url)
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_URL", pg_url)  # the database's owner
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_REQUIRE_READONLY_ROLE", "true")
    p = Platform.create(make_settings(tmp_path / "fs"))
    try:
        with TestClient(create_app(p)) as client:
            r = client.post("/api/v1/restaurant/sync", headers=make_keys(p)["admin"])
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail.startswith("FORESIGHT_RESTAURANT_RMS_URL:")
        assert "superuser" in detail and "SELECT only" in detail
        assert not p.service_of(RestaurantService).has_orders()  # nothing mirrored
    finally:
        p.close()
    assert fingerprint(pg_url) == before
