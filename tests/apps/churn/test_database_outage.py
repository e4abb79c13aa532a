"""PostgreSQL stopped under a serving API: every prediction answered 200 during the
outage is in the prediction log after it (spooled locally, written back on recovery);
writes answer 503 with Retry-After. The test runs its own PostgreSQL on a free port."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from foresight.api.app import create_app
from foresight.apps.churn.service import ChurnService
from foresight.apps.churn.store import ChurnPredictionRow
from foresight.platform.runtime import Platform
from tests.conftest import make_customers, make_keys, make_settings
from tests.servers import PostgresServer


def _logged(platform: Platform) -> int:
    with platform.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ChurnPredictionRow)) or 0)


def test_predictions_answered_during_an_outage_are_logged_after_it(
    tmp_path: Path, own_pg: PostgresServer
) -> None:
    platform = Platform.create(make_settings(tmp_path, database_url=own_pg.database("foresight")))
    service = platform.service_of(ChurnService)
    customers = make_customers(400, seed=2)
    service.import_frame(customers, source="t", id_column="account", target_column="left")
    service.train()
    keys = make_keys(platform)
    features = customers.drop(columns=["account", "left"]).to_dict("records")

    def predict(i: int) -> int:
        body = {"features": features[i % len(features)]}
        return client.post("/api/v1/churn/predict", json=body, headers=keys["service"]).status_code

    with TestClient(create_app(platform)) as client:
        assert all(predict(i) == 200 for i in range(5))
        service.log.flush()
        before = _logged(platform)
        own_pg.stop("immediate")  # a crash: connections cut, nothing flushed
        try:
            answered = sum(predict(i) == 200 for i in range(40))
            assert answered == 40  # the served model is in memory: predictions go on
            service.log.flush()  # the database is away: these rows go to the spool
            write = client.post(
                "/api/v1/admin/keys", json={"name": "x", "role": "service"}, headers=keys["admin"]
            )
            assert write.status_code == 503 and write.headers["Retry-After"] == "5"
        finally:
            own_pg.start()
        deadline = time.monotonic() + 20
        while _logged(platform) < before + answered:
            assert time.monotonic() < deadline, "answered predictions were lost"
            time.sleep(0.2)
        assert _logged(platform) == before + answered  # each once
        assert not service.log.spooled_files()
    platform.close()
