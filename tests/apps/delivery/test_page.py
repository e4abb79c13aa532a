"""The delivery page against the live API of the trained demo, via Streamlit's AppTest:
the heat maps come from the API, and a day's best windows can be asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import foresight.apps.delivery as delivery_pkg

PAGE = Path(delivery_pkg.__file__).parent / "page.py"


@pytest.fixture
def page_env(live_api: str, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = trained.keys.create(name="delivery-page", role="analyst")
    monkeypatch.setenv("FORESIGHT_API_URL", live_api)
    monkeypatch.setenv("FORESIGHT_API_KEY", key)


def test_the_page_shows_the_week_and_recommends_windows(page_env) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Delivery"
    titles = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("Predicted, week of" in spec for spec in titles)
    assert any("Observed share delivered" in spec for spec in titles)
    recommend = next(b for b in at.button if b.label == "Recommend windows")
    recommend.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert 1 <= len(table) <= 5
    assert table["probability"].is_monotonic_decreasing
    assert any("windows scored" in c.value for c in at.caption)
