"""The sales dashboard page against a live API (uvicorn in a thread), via Streamlit's AppTest."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from foresight.api.app import create_app
from foresight.platform.runtime import Platform

PAGE = Path(__file__).parents[3] / "foresight" / "dashboard" / "views" / "sales.py"


@pytest.fixture(scope="module")
def live(sales: Platform) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(sales), host="127.0.0.1", port=port, log_level="warning")
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


def test_page_shows_top_products_forecast_chart_and_backtest(
    live: str, sales: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = sales.keys.create(name="dash", role="analyst")
    monkeypatch.setenv("FORESIGHT_API_URL", live)
    monkeypatch.setenv("FORESIGHT_API_KEY", key)
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error
    top = at.dataframe[0].value
    assert len(top) == 10 and list(top["rank"]) == list(range(1, 11))
    backtest = at.dataframe[1].value
    assert "ensemble" in set(backtest["model"])
    # Switch to a category and a month: the table follows.
    at.selectbox[0].select("veggie").run()
    at.radio[0].set_value("month").run()
    assert set(at.dataframe[0].value["category"]) == {"veggie"}
    assert any("Top products" in s.value for s in at.subheader)
