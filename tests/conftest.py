"""Shared fixtures: settings on a temp dir, scratch PostgreSQL databases, Redis prefixes,
and one trained churn platform per test session (Telco data, short tuning box)."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from foresight.api.app import create_app
from foresight.platform.apps import installed_app_modules
from foresight.platform.runtime import Platform
from foresight.platform.settings import Settings
from foresight.platform.training import no_progress
from tests.servers import PostgresServer, free_port

# App settings come from the environment (``load_apps`` builds them): small restaurant
# horizons, the last ten weeks of its demo and a small delivery simulation keep the
# session's trainings short.
for _name, _value in {
    "FORESIGHT_RESTAURANT_DEMO_WEEKS": "10",
    "FORESIGHT_RESTAURANT_HOLDOUT_DAYS": "7",
    "FORESIGHT_RESTAURANT_HOURLY_HISTORY_WEEKS": "4",
    "FORESIGHT_RESTAURANT_HOURLY_HORIZON_DAYS": "2",
    "FORESIGHT_RESTAURANT_DAILY_HORIZON_DAYS": "14",
    "FORESIGHT_RESTAURANT_CUSTOMER_HOLDOUT_DAYS": "21",
    # The delivery simulator at test size: 120 households × 12 weeks (≈ 2,600 attempts).
    "FORESIGHT_DELIVERY_DEMO_HOUSEHOLDS": "120",
    "FORESIGHT_DELIVERY_DEMO_WEEKS": "12",
    "FORESIGHT_DELIVERY_MIN_TRAIN_ATTEMPTS": "200",
    "FORESIGHT_DELIVERY_MIN_PER_CLASS": "20",
}.items():
    os.environ.setdefault(_name, _value)

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def make_settings(path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": path,
        "tuning_seconds": 120.0,
        "tuning_trials": 3,
        # CatBoost's folds would double every training in the suite; the slow quality
        # tests and the learner's own tests run it.
        "tabular_members": ["linear", "lightgbm"],
        "log_json": False,
        "webhook_backoff_seconds": 0.0,
        "scheduler": False,  # tests tick schedulers themselves
        "stream_consumers": False,  # … and run stream consumers themselves
        # The example app of docs/new-app.md rides along, so the contract suite covers it.
        "apps": [*installed_app_modules(), "tests.example_app"],
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "testserver", ""}


def _is_local(host: object) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_outside_names() -> Iterator[None]:
    """Tests never reach outside 127.0.0.1: a name that is not local does not resolve (a
    URL a test sends to a feed or a webhook check gets "does not resolve", not a DNS
    query to the network). A test that needs a name resolved injects its own resolver."""
    real = socket.getaddrinfo

    def local_only(host: object, *args: object, **kwargs: object) -> object:
        if not _is_local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no outside name ({host})")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.getaddrinfo = local_only  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A scratch PostgreSQL database, dropped afterwards."""
    name = f"foresight_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - the machine runs PostgreSQL
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed for this test: {exc}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a storage test on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own on a free port, to stop and start at will."""
    server = PostgresServer()
    server.init()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the local Redis; every key under it is deleted afterwards."""
    import redis

    prefix = f"fs-test-{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    yield prefix
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the local Redis (pair it with ``redis_prefix`` for its keys)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh, untrained platform on SQLite."""
    p = Platform.create(make_settings(tmp_path))
    yield p
    p.close()


def make_customers(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small customer table in a schema unlike Telco, with a known churn mechanism."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], n)
    visits = rng.poisson(5, n)
    spend = np.round(rng.gamma(2.0, 30.0, n), 2)
    logit = 0.5 + 2.5 * (plan == "basic") - 0.6 * visits + 0.02 * spend
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "account": [f"A{i:04d}" for i in range(n)],
            "plan": plan,
            "monthly_visits": visits,
            "spend": spend,
            "left": np.where(churned, "yes", "no"),
        }
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform with every demo loaded and every app trained (shared, read-mostly)."""
    path = tmp_path_factory.mktemp("trained")
    p = Platform.create(make_settings(path))
    # Every installed app trained, as `foresight demo` leaves it (health is "healthy").
    for app in p.apps:
        app.load_demo(p, no_progress)
        for spec in app.models():
            spec.train(p, no_progress)
    yield p
    p.close()


@pytest.fixture(scope="session")
def api(trained: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(trained)) as client:
        yield client


@pytest.fixture(scope="session")
def keys(trained: Platform) -> dict[str, dict[str, str]]:
    return make_keys(trained)


def make_keys(platform: Platform) -> dict[str, dict[str, str]]:
    """One API key header per role."""
    out = {}
    for role in ("admin", "analyst", "service"):
        plain, _ = platform.keys.create(name=f"test-{role}", role=role)
        out[role] = {"X-API-Key": plain}
    return out


@pytest.fixture(scope="session")
def live_api(trained: Platform) -> Iterator[str]:
    """The trained platform's API served by uvicorn in a thread (for pages and browsers)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(trained), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
