"""The storage layer (migrations, registry, jobs, keys) on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from foresight.platform.apps import load_apps
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
    migrate.upgrade(database, [a.migrations for a in load_apps()])
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
    migrate.upgrade(db, [a.migrations for a in load_apps()])  # second run: no-op
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
    assert queue.results(job.id) == [{"x": 2}, {"x": 4}]

    def boom(ctx):
        raise ValueError("bad data")

    job2, future2 = queue.submit(app="t", kind="boom", fn=boom, records=[])
    future2.result(timeout=10)
    failed = queue.get(job2.id)
    # An unexpected exception is no message for a client: it is logged with the job id.
    assert failed.status == "failed" and "internal error" in failed.error
    assert job2.id in failed.error and "bad data" not in failed.error

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


def test_an_api_start_fails_only_jobs_whose_owner_stopped(tmp_path: Path) -> None:
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from foresight.api.app import create_app
    from foresight.platform.db.base import utcnow
    from foresight.platform.db.tables import JobRow
    from foresight.platform.runtime import Platform
    from tests.conftest import make_settings

    server = Platform.create(make_settings(tmp_path))
    now = utcnow()
    with server.db.session() as s:
        # One replica died ten minutes ago; another is alive and heart-beating.
        s.add(
            JobRow(
                id="dead-job",
                app="t",
                kind="k",
                status="running",
                owner="gone",
                heartbeat_at=now - timedelta(minutes=10),
            )
        )
        s.add(
            JobRow(
                id="live-job", app="t", kind="k", status="running", owner="alive", heartbeat_at=now
            )
        )
    # A restarted API process fails what the dead one left; the live replica's job runs on
    # (it used to fail every running job, live or not).
    with TestClient(create_app(server)):
        dead, live = server.jobs.get("dead-job"), server.jobs.get("live-job")
    assert dead.status == "failed" and "submit" in (dead.error or "")
    assert live.status == "running"
    server.close()


def test_an_audit_row_in_a_rolled_back_change_is_gone_with_it(db: Database) -> None:
    from foresight.platform.audit import AuditLog, AuditQuery

    audit = AuditLog(db)

    class Refused(Exception):
        pass

    with pytest.raises(Refused), db.session() as session:
        audit.write(actor="admin", action="rule.update", target="r/p", session=session)
        raise Refused  # the change itself failed after its audit row was written
    with db.session() as session:
        audit.write(actor="admin", action="rule.update", target="r/q", session=session)
    total, rows = audit.read(AuditQuery())
    assert total == 1 and rows[0]["target"] == "r/q"


def test_a_key_prefix_drawn_twice_is_drawn_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foresight.platform import auth

    draws = iter(["aaaa0000", "aaaa0000", "bbbb1111"])
    monkeypatch.setattr(auth.secrets, "token_hex", lambda n: next(draws))
    keys = KeyStore(db)
    first, _ = keys.create(name="one", role="admin")
    second, _ = keys.create(name="two", role="admin")  # its first draw collides
    assert first.startswith("fs_aaaa0000_") and second.startswith("fs_bbbb1111_")
    assert keys.verify(second) is not None
