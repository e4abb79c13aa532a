"""Sales on the platform's services: the fallback chain, the seed's path, idempotent
ingestion, the injected clock and scheduled retraining through the lease."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from foresight.api.app import create_app
from foresight.apps.sales.service import SalesService
from foresight.platform.db.tables import TrainingRunRow
from foresight.platform.runtime import Platform
from tests.apps.sales.test_import import tx
from tests.conftest import make_keys, make_settings

TOP = "/api/v1/sales/top-products"
NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def clocked(tmp_path: Path) -> Platform:
    now = [NOW]
    p = Platform.create(make_settings(tmp_path), clock=lambda: now[0])
    p.now = now  # type: ignore[attr-defined]
    yield p
    p.close()


def _register_unreadable(p: Platform) -> None:
    mv = p.registry.register(
        name="sales",
        model={"not": "a forecast"},
        algorithm="test",
        params={},
        metrics={},
        signature={},
        fallback={"kind": "seasonal_naive", "season_length": 7},
        data_fingerprint="x",
    )
    p.registry.promote("sales", mv.version)
    (p.settings.artifacts_dir / mv.artifact_path).unlink()


def test_answers_from_the_fallback_chain_never_a_404(clocked: Platform) -> None:
    service = clocked.service_of(SalesService)
    service.import_frame(tx(70), source="t")
    keys = make_keys(clocked)
    with TestClient(create_app(clocked)) as client:
        # No model at all: the default link (seasonal naive on the latest data) answers.
        body = client.get(TOP, headers=keys["service"]).json()
        assert body["fallback"] == "default" and body["model_version"] == "default"
        assert body["generated_at"] == NOW.isoformat()  # the injected clock, not the wall's
        # Last week repeated: product a sold 1 a day plus 3 extra on one day a week.
        units = {p["product_id"]: p["forecast_units"] for p in body["products"]}
        assert units == {"a": 10.0, "b": 17.0}
        # A production version whose artifact is gone: the rule baseline, named as such.
        _register_unreadable(clocked)
        clocked.server.invalidate("sales")
        service.invalidate()
        body = client.get(TOP, headers=keys["service"]).json()
        assert body["fallback"] == "rule_baseline" and body["model_version"] == "sales:v1+rule"
        fc = client.get(
            "/api/v1/sales/forecast",
            params={"product_id": "a", "horizon": 14},
            headers=keys["service"],
        )
        assert fc.status_code == 200, fc.text
        fc = fc.json()
        assert fc["fallback"] == "rule_baseline" and fc["weights"] == {"seasonal_naive": 1.0}
        assert [p["units"] for p in fc["forecast"][:7]] == [1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 1.0]
        assert all(p["lower"] <= p["units"] <= p["upper"] for p in fc["forecast"])


def test_the_seed_path_answers_like_the_app_path(client: TestClient, headers: dict) -> None:
    params = {"time_period": "month", "category": "classic", "limit": 3}
    ours = client.get(TOP, params=params, headers=headers["service"]).json()
    seed = client.get("/api/v1/forecast/top-products", params=params, headers=headers["service"])
    assert seed.status_code == 200
    assert seed.json()["products"] == ours["products"]
    assert client.get("/api/v1/forecast/top-products").status_code == 401


def test_a_retried_post_does_not_double_the_sales(clocked: Platform) -> None:
    service = clocked.service_of(SalesService)
    service.import_frame(tx(70), source="t")
    keys = make_keys(clocked)
    body = {
        "transactions": [
            {"product_id": "a", "sold_at": "2024-03-11T12:00:00", "quantity": 5, "unit_price": 2}
        ]
    }

    def units_on_day() -> float:
        daily = service.store.daily()
        return float(
            daily[(daily["product_id"] == "a") & (daily["day"] == "2024-03-11")]["units"].sum()
        )

    with TestClient(create_app(clocked)) as client:
        post = lambda **h: client.post(  # noqa: E731
            "/api/v1/sales/transactions", json=body, headers={**keys["analyst"], **h}
        ).json()
        first = post(**{"Idempotency-Key": "k1"})
        assert first["duplicate"] is False and units_on_day() == 5.0
        again = post(**{"Idempotency-Key": "k1"})
        assert again["duplicate"] is True and units_on_day() == 5.0
        # Without a key the body itself is the key: a blind retry changes nothing either.
        assert post()["duplicate"] is False and units_on_day() == 10.0
        assert post()["duplicate"] is True and units_on_day() == 10.0


def _runs(p: Platform) -> int:
    with p.db.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(TrainingRunRow)
            .where(TrainingRunRow.model_name == "sales", TrainingRunRow.status == "succeeded")
        )


def test_weekly_retraining_runs_once_across_replicas_and_after_an_interrupted_run(
    tmp_path: Path,
) -> None:
    now = [NOW]
    settings = make_settings(tmp_path)
    first = Platform.create(settings, clock=lambda: now[0])
    second = Platform.create(settings, clock=lambda: now[0], migrate_db=False)
    try:
        # No data: the weekly slot comes and goes without training.
        now[0] = NOW + timedelta(days=8)
        assert first.scheduler.tick() == [] and _runs(first) == 0
        first.service_of(SalesService).import_frame(tx(70), source="t")
        # An earlier run that died mid-way left its row "running": it must not block.
        with first.db.session() as s:
            s.add(TrainingRunRow(model_name="sales", status="running"))
        now[0] = NOW + timedelta(days=15)
        ran: list[list[str]] = []
        threads = [
            threading.Thread(target=lambda p=p: ran.append(p.scheduler.tick()))
            for p in (first, second)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Two replicas ticked at once; exactly one trained.
        assert sum("train:sales" in r for r in ran) == 1 and _runs(first) == 1
        assert first.registry.production("sales") is not None
        status = {t.name: t for t in second.scheduler.status()}["train:sales"]
        assert status.last_status == "succeeded" and status.next_run_at > now[0]
    finally:
        second.close()
        first.close()


def test_concurrent_retries_with_one_key_store_once(clocked: Platform) -> None:
    service = clocked.service_of(SalesService)
    service.import_frame(tx(70), source="t")
    rows = [{"product_id": "a", "sold_at": "2024-03-11T12:00:00", "quantity": 5, "revenue": 9}]
    answers: list[object] = []
    # Every retry looks for an earlier import before any of them writes: all four find
    # none and race to insert the same key (the window a real race may or may not hit).
    together = threading.Barrier(4, timeout=10)
    lookup = service.store.previous_import
    looked = threading.local()

    def previous_import(key: str) -> object:
        found = lookup(key)
        if not getattr(looked, "once", False):
            looked.once = True
            together.wait()
        return found

    service.store.previous_import = previous_import  # type: ignore[method-assign]

    def post() -> None:
        try:
            answers.append(service.ingest(rows, actor="t", idempotency_key="same"))
        except Exception as exc:  # a race used to surface as an IntegrityError (a 500)
            answers.append(exc)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(a, Exception) for a in answers), answers
    assert sum(not a.details.get("duplicate") for a in answers) == 1  # type: ignore[union-attr]
    daily = service.store.daily()
    day = daily[(daily["product_id"] == "a") & (daily["day"] == "2024-03-11")]
    assert float(day["units"].sum()) == 5.0
