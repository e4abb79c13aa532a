"""The kitchen and delivery fallback chains, each link broken in turn (as
tests/apps/sales/test_fallback_and_schedule.py does), and the rule's robust fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.apps.restaurant.kitchen_model import (
    DEFAULT_DELIVERY_MINUTES,
    DEFAULT_TICKET_MINUTES,
    DELIVERY,
    KITCHEN,
    RateRule,
)
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.runtime import Platform
from tests.apps.restaurant.test_kitchen import (
    DELIVERY_URL,
    FRIDAY_EVENING,
    KITCHEN_URL,
    basket,
    make_timed_rms,
)
from tests.conftest import make_keys, make_settings

TRIP = {"hour": 19.5, "day": "Fri", "distance": 3.0, "item_count": 2}
TICKET = {"items": basket(), "ordered_at": FRIDAY_EVENING}


def _platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: object) -> Platform:
    url = f"sqlite:///{tmp_path / 'rms.sqlite'}"
    make_timed_rms(url, days=21)
    monkeypatch.setenv("FORESIGHT_RESTAURANT_RMS_URL", url)
    p = Platform.create(make_settings(tmp_path / "fs", **settings))
    p.service_of(RestaurantService).sync_now()
    return p


def _register_unreadable(p: Platform, name: str) -> int:
    """A production version of ``name`` whose artifact is gone (its rule JSON stays)."""
    current = p.registry.production(name)
    assert current is not None
    mv = p.registry.register(
        name=name,
        model={"not": "a model"},
        algorithm="restaurant_minutes",
        params={},
        metrics={},
        signature=current.signature,
        fallback=current.fallback,
        data_fingerprint="x",
    )
    p.registry.promote(name, mv.version)
    (p.settings.artifacts_dir / mv.artifact_path).unlink()
    p.server.invalidate(name)
    return mv.version


def test_without_a_model_the_documented_default_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _platform(tmp_path, monkeypatch)
    with TestClient(create_app(p)) as c:
        key = make_keys(p)["service"]
        ticket = c.post(KITCHEN_URL, json=TICKET, headers=key).json()
        trip = c.post(DELIVERY_URL, json=TRIP, headers=key).json()
    p.close()
    assert ticket["fallback"] == "default" and ticket["method"] == "default"
    assert ticket["model_version"] == "default"
    assert ticket["ticket_minutes"] == DEFAULT_TICKET_MINUTES
    assert ticket["lower"] == pytest.approx(DEFAULT_TICKET_MINUTES * 0.5, abs=0.01)
    assert ticket["upper"] == pytest.approx(DEFAULT_TICKET_MINUTES * 1.5, abs=0.01)
    assert trip["fallback"] == "default" and trip["delivery_minutes"] == DEFAULT_DELIVERY_MINUTES


@pytest.mark.parametrize(
    ("name", "url", "body"), [(KITCHEN, KITCHEN_URL, TICKET), (DELIVERY, DELIVERY_URL, TRIP)]
)
def test_each_link_answers_when_the_one_above_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, url: str, body: dict
) -> None:
    # The linear member alone: the chain is under test here, not the learner.
    p = _platform(tmp_path, monkeypatch, tabular_members=["linear"], tuning_trials=1)
    spec = next(s for s in p.app("restaurant").models() if s.name == name)
    assert spec.train(p, lambda *_: None).promoted
    minutes = "ticket_minutes" if name == KITCHEN else "delivery_minutes"
    with TestClient(create_app(p)) as c:
        key = make_keys(p)["service"]
        first = c.post(url, json=body, headers=key).json()
        assert first["fallback"] is None and first["model_version"] == f"{name}:v1"
        # Production v2 cannot be read: the previous production (v1) answers, and says so.
        v2 = _register_unreadable(p, name)
        prev = c.post(url, json=body, headers=key).json()
        assert prev["fallback"] == "previous_production" and prev["model_version"] == f"{name}:v1"
        assert prev[minutes] == first[minutes] and prev["cached"] is False
    # v1's artifact gone too, and a process that never loaded it (a restart): the rate
    # rule stored in the registry row answers.
    v1 = p.registry.get(name, 1)
    (p.settings.artifacts_dir / v1.artifact_path).unlink()
    p.close()
    p = Platform.create(make_settings(tmp_path / "fs"))
    with TestClient(create_app(p)) as c:
        rule = c.post(url, json=body, headers=make_keys(p)["service"]).json()
    p.close()
    assert rule["fallback"] == "rule_baseline" and rule["method"] == "rate_rule"
    assert rule["model_version"] == f"{name}:v{v2}+rule"
    assert rule["lower"] <= rule[minutes] <= rule["upper"]
    # The rule is a fair answer too: within a few minutes of the model's.
    assert rule[minutes] == pytest.approx(first[minutes], abs=4)


def test_the_rate_rule_recovers_known_rates_despite_a_long_tail() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    rows = pd.DataFrame(
        {
            "hour": rng.uniform(11, 23, n),
            "n_items": rng.integers(1, 8, n),
            "open_tickets": rng.integers(0, 12, n),
        }
    )
    base = np.where(rows["hour"] >= 18, 12.0, 8.0)
    noise = rng.laplace(0, 1, n) + np.where(rng.random(n) < 0.1, rng.exponential(30, n), 0)
    minutes = base + 1.5 * rows["n_items"] + 0.7 * rows["open_tickets"] + noise
    rule = RateRule.fit(rows, minutes.to_numpy(), ("n_items", "open_tickets"))
    assert rule.rates["n_items"] == pytest.approx(1.5, abs=0.15)
    assert rule.rates["open_tickets"] == pytest.approx(0.7, abs=0.1)
    assert rule.base_by_hour["19"] - rule.base_by_hour["12"] == pytest.approx(4.0, abs=0.6)
    answer = rule.answer({"hour": 19.25, "n_items": 2, "open_tickets": 1})
    assert answer["lower"] <= answer["minutes"] <= answer["upper"]
    assert answer["minutes"] == pytest.approx(12 + 3 + 0.7, abs=0.6)
    assert rule.answer({"hour": 4.0, "n_items": 1, "open_tickets": 0})["minutes"] > 0  # unseen hour
    assert RateRule.from_dict(rule.to_dict()) == rule
