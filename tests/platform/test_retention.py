"""Retention: FORESIGHT_RETENTION_DAYS per table kind, purged by the scheduled task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foresight.apps.churn.service import ChurnService
from foresight.apps.churn.store import ChurnPredictionRow
from foresight.platform.db.tables import AuditRow, JobRow
from foresight.platform.operations import RETENTION_TASK, purge
from foresight.platform.runtime import Platform
from tests.conftest import make_settings

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _seed(p: Platform, age_days: float, tag: str) -> None:
    at = NOW - timedelta(days=age_days)
    with p.db.session() as s:
        s.add(AuditRow(actor="t", action="x", target=tag, details={}, created_at=at))
        s.add(JobRow(id=f"job-{tag}", app="t", kind="k", status="done", created_at=at))
        s.add(
            ChurnPredictionRow(
                customer_id=tag,
                churn_probability=0.5,
                prediction="Yes",
                risk_tier="medium",
                confidence_level="low",
                model_version="churn:v1",
                source="api",
                prediction_date=at,
            )
        )
    p.events.publish("t.happened", tag, {"tag": tag}, occurred_at=at)


def test_each_kind_keeps_its_own_number_of_days(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        retention_days={"predictions": 30, "events": 10, "jobs": 5, "audit": 0},
    )
    p = Platform.create(settings, clock=lambda: NOW)
    p.events.clock = lambda: NOW - timedelta(days=40)  # the old event was recorded back then
    _seed(p, 40, "old")
    p.events.clock = lambda: NOW - timedelta(days=7)
    _seed(p, 7, "week")
    p.events.clock = lambda: NOW
    _seed(p, 0, "new")
    status = p.scheduler.run_now(RETENTION_TASK)
    assert status.last_status == "succeeded"
    with p.db.session() as s:
        jobs = sorted(s.query(JobRow.id).all())
        audit = s.query(AuditRow).count()
    assert jobs == [("job-new",)]  # 5 days kept
    assert audit == 3  # 0 keeps forever
    assert [e.key for e in p.events.read()] == ["week", "new"]  # 10 days kept
    history = p.service_of(ChurnService).store
    assert [r.customer_id for r in history.recent(10)] == ["new", "week"]  # 30 days kept
    p.close()


def test_events_an_app_rebuilds_from_outlive_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = Platform.create(make_settings(tmp_path, retention_days={"events": 10}), clock=lambda: NOW)
    first, second = p.apps[:2]
    monkeypatch.setattr(first, "kept_events", ("a.created",))
    monkeypatch.setattr(second, "kept_events", ("b.created", "a.created"))
    publish = p.events.publish
    p.events.clock = lambda: NOW - timedelta(days=40)
    gone = publish("t.happened", "x", {}).offset
    a = publish("a.created", "x", {}).offset
    floor = publish("t.happened", "x", {}).offset
    b = publish("b.created", "y", {}).offset
    lagging = publish("t.happened", "y", {}).offset  # old, but the consumer has not had it
    p.events.clock = lambda: NOW
    recent = publish("t.happened", "z", {}).offset
    p.events.commit("slow", floor)

    assert purge(p)["events"] == 2  # `gone` and `floor`: old, not kept, consumed
    assert [e.offset for e in p.events.read()] == [a, b, lagging, recent]
    assert gone < a
    p.close()


def test_naming_one_kind_keeps_the_defaults_of_the_others(monkeypatch) -> None:
    from foresight.platform.settings import RETENTION_DEFAULTS, Settings

    monkeypatch.setenv("FORESIGHT_RETENTION_DAYS", '{"predictions": 90}')
    days = Settings().retention_days
    # It used to replace the whole table: every other kind then read 0, "keep forever".
    assert days == {**RETENTION_DEFAULTS, "predictions": 90.0}
