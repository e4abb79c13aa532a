"""The storage layer (migrations, registry, jobs, keys) on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from foresight.apps import load_all
from foresight.platform.artifacts import LocalArtifactStore
from foresight.platform.auth import KeyStore
from foresight.platform.db import migrate
from foresight.platform.db.engine import Database
from foresight.platform.errors import Conflict, JobNotFound, ModelNotFound
from foresight.platform.jobs import JobQueue
from foresight.platform.registry import GateResult, ModelRegistry


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url)
    migrate.upgrade(database, [a.migrations for a in load_all()])
    yield database
    database.dispose()


def register(reg: ModelRegistry, obj: object = None, auc: float = 0.8):
    return reg.register(
        name="m",
        model=obj or {"w": [1, 2]},
        algorithm="test",
        params={"a": 1},
        metrics={"roc_auc": auc},
        signature={"columns": []},
        fallback={},
        data_fingerprint="abc",
    )


def test_migrations_create_every_table_and_are_idempotent(db: Database) -> None:
    migrate.upgrade(db, [a.migrations for a in load_all()])  # second run: no-op
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "model_versions",
        "training_runs",
        "gate_results",
        "jobs",
        "api_keys",
        "webhooks",
        "webhook_deliveries",
        "audit_log",
        "churn_customers",
        "churn_predictions",
        "churn_datasets",
    } <= tables


def test_registry_versions_promote_and_rollback(db: Database, tmp_path: Path) -> None:
    reg = ModelRegistry(db, LocalArtifactStore(tmp_path / "artifacts"))
    v1 = register(reg, {"v": 1})
    v2 = register(reg, {"v": 2})
    assert (v1.version, v2.version, v1.stage) == (1, 2, "staging")
    assert reg.production("m") is None
    reg.promote("m", 1)
    reg.promote("m", 2)
    assert reg.production("m").version == 2
    assert reg.get("m", 1).stage == "archived"
    assert reg.previous_production("m").version == 1
    assert reg.load(reg.production("m")) == {"v": 2}
    back = reg.rollback("m")
    assert back.version == 1 and reg.production("m").version == 1
    assert reg.get("m", 2).stage == "archived"


def test_registry_errors_and_gate_log(db: Database, tmp_path: Path) -> None:
    reg = ModelRegistry(db, LocalArtifactStore(tmp_path / "artifacts"))
    with pytest.raises(ModelNotFound):
        reg.get("m", 9)
    register(reg)
    reg.promote("m", 1)
    with pytest.raises(Conflict):
        reg.rollback("m")  # nothing to roll back to
    reg.record_gate("m", 2, GateResult(False, "roc_auc", 0.7, 0.8, 1, "worse"))
    gates = reg.gates("m")
    assert gates[0]["passed"] is False and gates[0]["production_value"] == 0.8


def test_jobs_run_fail_and_recover(db: Database) -> None:
    queue = JobQueue(db)

    def ok(ctx):
        rows = ctx.input()
        ctx.progress(done=len(rows))
        return [{"x": r["x"] * 2} for r in rows], {"n": len(rows)}

    job, future = queue.submit(app="t", kind="double", fn=ok, records=[{"x": 1}, {"x": 2}])
    future.result(timeout=10)
    done = queue.get(job.id)
    assert done.status == "done" and done.progress == 1.0 and done.summary == {"n": 2}
    assert queue.read_blob(job.id, "output") == [{"x": 2}, {"x": 4}]

    def boom(ctx):
        raise ValueError("bad data")

    job2, future2 = queue.submit(app="t", kind="boom", fn=boom, records=[])
    future2.result(timeout=10)
    failed = queue.get(job2.id)
    assert failed.status == "failed" and "bad data" in failed.error

    # A job left 'running' by a crashed process is failed on the next start.
    release = []

    def slow(ctx):
        while not release:
            time.sleep(0.01)
        return [], {}

    job3, future3 = queue.submit(app="t", kind="slow", fn=slow, records=[])
    time.sleep(0.2)
    assert JobQueue(db).recover() == 1
    assert queue.get(job3.id).status == "failed"
    assert "interrupted" in queue.get(job3.id).error
    release.append(True)
    future3.result(timeout=10)
    with pytest.raises(JobNotFound):
        queue.get("nope")
    queue.shutdown()


def test_api_keys_hashed_verified_revoked(db: Database) -> None:
    keys = KeyStore(db, cache_seconds=0.0001)
    plain, principal = keys.create(name="svc", role="service")
    assert plain.startswith("fs_") and keys.verify(plain) == principal
    assert keys.verify(plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert keys.verify("garbage") is None
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash FROM api_keys").scalar()
    assert plain not in stored and len(stored) == 64
    keys.revoke(principal.key_id)
    time.sleep(0.01)
    assert keys.verify(plain) is None


def test_only_the_api_process_recovers_interrupted_jobs(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from foresight.api.app import create_app
    from foresight.platform.db.tables import JobRow
    from foresight.platform.runtime import Platform
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    server = Platform.create(settings, load_all())
    with server.db.session() as s:
        s.add(JobRow(id="live-job", app="churn", kind="predict_batch", status="running"))
    # A CLI command starting beside a live server must leave that server's job alone.
    cli = Platform.create(settings, load_all())
    assert cli.jobs.get("live-job").status == "running"
    cli.close()
    # A restarted API process is the one that fails what a crashed run left behind.
    with TestClient(create_app(server)):
        job = server.jobs.get("live-job")
    assert job.status == "failed" and "interrupted" in job.error
    server.close()
