"""Batches of customer-window pairs: ``score_pairs`` answers what ``availability`` answers
for each pair, bad pairs are row errors that name the field, and ``POST predict/batch``
(JSON or CSV) runs as a job whose status, results and events can be read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from foresight.apps.delivery import state
from foresight.apps.delivery.batch_scoring import check_pairs, score_pairs
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.epoch import recent_outcomes
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.schemas_predict import AvailabilityRequest
from foresight.apps.delivery.service import DeliveryService
from foresight.apps.delivery.sim import SimConfig, simulate
from foresight.apps.delivery.store import attempts_of
from foresight.platform.events import DatabaseEventLog
from foresight.platform.runtime import Platform
from tests.apps.delivery.helpers import Api, migrated, new, refused, serving
from tests.conftest import make_settings

NOW = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
GOOD = ("2025-04-02T14:00:00-04:00", "2025-04-02T16:00:00-04:00")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A platform holding 40 simulated households × 8 weeks, untrained (the rule answers)."""
    sim = simulate(SimConfig(households=40, weeks=8, seed=3))
    path = tmp_path_factory.mktemp("batch")
    platform = Platform.create(
        make_settings(path, apps=["foresight.apps.delivery"]), clock=lambda: NOW
    )
    service = platform.service_of(DeliveryService)
    customers = sim.customers.assign(preferences=sim.customers["preferences"].map(json.loads))
    for row in customers.to_dict("records"):
        service.customers.create(
            service_body(row), actor="test"
        )  # a profile per simulated household
    columns = ["customer_id", "attempted_at", "window_start", "window_end", "delivered"]
    service.add_attempts(sim.attempts[[*columns, "failure_reason"]], source="demo")
    yield SimpleNamespace(sim=sim, platform=platform, service=service)
    platform.close()


def service_body(row: dict[str, Any]) -> Any:
    from foresight.apps.delivery.schemas import CustomerIn

    return CustomerIn(
        customer_id=row["customer_id"],
        timezone=row["timezone"],
        address_zone=row["address_zone"],
        household_type=row["household_type"],
        preferences=row["preferences"],
    )


def random_pairs(world: Any, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` windows of 30 min to 4 h, starting on the quarter hour in the next 10 days."""
    rng = np.random.default_rng(seed)
    ids = world.sim.customers["customer_id"].to_numpy()
    starts = [NOW + timedelta(minutes=15 * int(q)) for q in rng.integers(4, 4 * 24 * 10, size=n)]
    lengths = rng.choice([30, 60, 120, 240], size=n)
    return pd.DataFrame(
        {
            "customer_id": rng.choice(ids, size=n),
            "window_start": [s.isoformat() for s in starts],
            "window_end": [
                (s + timedelta(minutes=int(m))).isoformat()
                for s, m in zip(starts, lengths, strict=True)
            ],
        }
    )


def test_every_pair_gets_what_availability_answers(world: Any) -> None:
    pairs = random_pairs(world, 300)
    out = score_pairs(world.service, pairs, first_row=1)
    assert out.errors == [] and len(out.results) == 300
    assert [r["row"] for r in out.results] == list(range(1, 301))
    for result, pair in zip(out.results, pairs.to_dict("records"), strict=True):
        one = world.service.availability(AvailabilityRequest(**pair, explain=False))
        assert result["probability"] == one["probability"], pair
        assert result["basis"] == one["basis"] and result["model_version"] == one["model_version"]
        assert result["customer_id"] == pair["customer_id"]
        assert result["window_start"] == pair["window_start"]
    # One event per customer of the chunk, each naming its windows.
    assert {c for c, _, _ in out.per_customer} == set(pairs["customer_id"])


@pytest.mark.parametrize(
    ("pair", "field", "message"),
    [
        ({"customer_id": ""}, "customer_id", "is required"),
        ({"customer_id": "a b"}, "customer_id", "letters, digits and . _ : -"),
        ({"window_start": "2025-04-02T14:00:00"}, "window_start", "needs a UTC offset"),
        ({"window_start": "2025-04-02"}, "window_start", "needs a UTC offset"),
        ({"window_end": "tomorrow"}, "window_end", "needs a UTC offset"),
        ({"window_end": "2025-13-02T16:00:00Z"}, "window_end", "not an ISO 8601 date-time"),
        ({"window_start": "1999-04-02T14:00:00Z"}, "window_start", "between 2000 and 2100"),
        ({"window_end": "2025-04-02T13:00:00-04:00"}, "window_end", "must be after"),
        ({"window_end": "2025-04-03T16:00:00-04:00"}, "window_end", "got 26 h"),
        ({"window_end": "2025-04-02T14:10:00-04:00"}, "window_end", "got 10 min"),
        ({"customer_id": "nobody-1"}, "customer_id", "'nobody-1' is not a known customer"),
    ],
)
def test_a_bad_pair_is_a_row_error_and_the_others_are_scored(
    world: Any, pair: dict[str, str], field: str, message: str
) -> None:
    cid = world.sim.customers["customer_id"].iloc[0]
    base = {"customer_id": cid, "window_start": GOOD[0], "window_end": GOOD[1]}
    frame = pd.DataFrame([base, base | pair, base])
    out = score_pairs(world.service, frame, first_row=10)
    assert [r["row"] for r in out.results] == [10, 12]
    assert len(out.errors) == 1
    error = out.errors[0]
    assert error["row"] == 11 and error["field"] == field and message in error["message"]


def test_missing_columns_and_empty_cells_are_row_errors() -> None:
    good, errors = check_pairs(pd.DataFrame({"customer_id": ["c-1", None]}), 1)
    assert good.empty
    assert [(e["row"], e["field"]) for e in errors] == [(1, "window_start"), (2, "customer_id")]


# ---- over HTTP ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serving(tmp_path_factory.mktemp("batch-http"), DeliverySettings(batch_max_pairs=6)) as api:
        for cid in ("b-1", "b-2"):
            api.customer(cid)
        api.customer("gone-1")
        assert api.call("DELETE", "/customers/gone-1").status_code == 204
        yield api


def finished(api: Api, job_id: str) -> dict[str, Any]:
    for _ in range(400):
        status = api.get(f"/predict/batch/{job_id}", role="service").json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError("the batch did not finish")


def results(api: Api, job_id: str) -> list[dict[str, Any]]:
    answer = api.client.get(f"/api/v1/jobs/{job_id}/results", headers=api.keys["service"])
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_a_json_batch_is_a_job_with_results_row_errors_and_events(api: Api) -> None:
    pairs = [
        {"customer_id": "b-1", "window_start": GOOD[0], "window_end": GOOD[1]},
        {"customer_id": "b-2", "window_start": GOOD[0], "window_end": GOOD[1]},
        {"customer_id": "gone-1", "window_start": GOOD[0], "window_end": GOOD[1]},
        {"customer_id": "b-1", "window_start": GOOD[1], "window_end": GOOD[0]},
    ]
    accepted = api.post("/predict/batch", json={"pairs": pairs}, role="service")
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    status = finished(api, job["job_id"])
    assert status["status"] == "done" and status["app"] == "delivery"
    assert (status["total"], status["done"], status["failed"]) == (4, 2, 2)
    assert [(e["row"], e["field"]) for e in status["errors"]] == [
        (3, "customer_id"),
        (4, "window_end"),
    ]
    assert "'gone-1' was deleted" in status["errors"][0]["message"]
    rows = results(api, job["job_id"])
    assert [(r["row"], r["customer_id"]) for r in rows] == [(1, "b-1"), (2, "b-2")]
    # Untrained and without history, the rule answers its prior.
    assert {r["probability"] for r in rows} == {0.7} and rows[0]["basis"] == "model"
    events = api.get("/customers/b-1/events", params={"types": state.PREDICTION_REQUESTED}).json()
    mine = [e["payload"] for e in events if e["payload"].get("job_id") == job["job_id"]]
    assert len(mine) == 1 and mine[0]["kind"] == "batch" and len(mine[0]["windows"]) == 1


def test_a_csv_batch_and_its_refusals(api: Api) -> None:
    csv = "customer_id,window_start,window_end,note\nb-1,{0},{1},x\n007,{0},{1},y\n".format(*GOOD)
    headers = {"Content-Type": "text/csv"}
    accepted = api.post("/predict/batch", content=csv, headers=headers, role="service")
    assert accepted.status_code == 202, accepted.text
    status = finished(api, accepted.json()["job_id"])
    assert status["done"] == 1 and status["errors"][0]["message"] == "'007' is not a known customer"
    no_column = api.post(
        "/predict/batch", content="customer_id,window_start\nb-1,x\n", headers=headers
    )
    assert refused(no_column, 422) == [] and "lacks the column(s) window_end" in no_column.text
    header_only = api.post(
        "/predict/batch", content="customer_id,window_start,window_end\n", headers=headers
    )
    assert header_only.status_code == 422 and "no rows" in header_only.text
    seven = {"customer_id": "b-1", "window_start": GOOD[0], "window_end": GOOD[1]}
    too_many = api.post("/predict/batch", json={"pairs": [seven] * 7})
    assert too_many.status_code == 413 and "7 pairs is more than 6" in too_many.text
    # Rows, not newlines, are counted: seven rows separated by CR alone are seven.
    cr = "customer_id,window_start,window_end\r" + f"b-1,{GOOD[0]},{GOOD[1]}\r" * 7
    assert api.post("/predict/batch", content=cr, headers=headers).status_code == 413
    broken = 'customer_id,window_start,window_end\nb-1,{0},{1}\n"b-2,{0}\n'.format(*GOOD)
    unreadable = api.post("/predict/batch", content=broken, headers=headers)
    assert unreadable.status_code == 422 and "cannot be read as CSV" in unreadable.text
    typed = api.post("/predict/batch", json={"pairs": [seven | {"customer_id": 5}]})
    assert refused(typed, 422) == ["pairs.0.customer_id"]
    assert refused(api.post("/predict/batch", json={"pairs": []}), 422) == ["pairs"]


def test_a_batch_id_must_be_a_delivery_batch(api: Api) -> None:
    missing = api.get("/predict/batch/no-such-job", role="service")
    assert missing.status_code == 404
    assert api.get("/predict/batch/no-such-job", role=None).status_code == 401


def test_recent_outcomes_are_what_one_answer_reads_on_both_databases(db_url: str) -> None:
    db = migrated(db_url)
    try:
        part = CustomerPart(db, DatabaseEventLog(db), DeliverySettings(), clock=lambda: NOW)
        for cid in ("r-1", "r-2"):
            part.create(new(cid))
        start = datetime(2025, 3, 3, 18, tzinfo=UTC)
        rows = [
            {
                "customer_id": cid,
                "attempted_at": start + timedelta(days=d, minutes=10, seconds=7),
                "window_start": start + timedelta(days=d),
                "window_end": start + timedelta(days=d, hours=2),
                "delivered": d % 3 != 0,
                "failure_reason": None if d % 3 else "not_home",
            }
            for cid, days in (("r-1", 7), ("r-2", 2))
            for d in range(days)
        ]
        part.add_attempts(pd.DataFrame(rows), source="test")
        found = recent_outcomes(db, ["r-1", "r-2", "r-3"], keep=5)
        assert set(found) == {"r-1", "r-2"}  # no attempts, no entry
        for cid in ("r-1", "r-2"):
            newest = list(reversed(attempts_of(db, cid, limit=5)))
            at, delivered = found[cid]
            assert at.tolist() == [int(r.attempted_at.timestamp()) for r in newest]
            assert delivered.tolist() == [r.delivered for r in newest]
        assert len(found["r-1"][0]) == 5 and len(found["r-2"][0]) == 2
    finally:
        db.dispose()
