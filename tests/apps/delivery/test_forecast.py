"""Weather forecasts over HTTP, the provider played by ``httpx.MockTransport``: parsing,
coverage, the one-hour cache, answers that name their source, a provider that is down,
no call on the hot path, and batches that read the same forecast."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from foresight.apps.delivery.batch_scoring import score_pairs
from foresight.apps.delivery.forecast import Forecast, ForecastCache, parse_open_meteo
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.service import DeliveryService
from tests.apps.delivery.helpers import Api, serving

FIRST = int(datetime(2025, 6, 3, tzinfo=UTC).timestamp())
HOURS = 48
WINDOW = {"window_start": "2025-06-03T14:00:00Z", "window_end": "2025-06-03T16:00:00Z"}


def answer(prob: float = 80.0) -> dict[str, Any]:
    return {
        "hourly": {
            "time": [FIRST + 3600 * i for i in range(HOURS)],
            "temperature_2m": [10.0 + i for i in range(HOURS)],
            "precipitation": [0.5] * HOURS,
            "precipitation_probability": [prob] * (HOURS - 1) + [None],
        }
    }


def test_a_forecast_is_parsed_and_covers_its_hours_only() -> None:
    forecast = parse_open_meteo(answer())
    t = np.array([FIRST - 1, FIRST, FIRST + 3600 * 15 + 10, FIRST + 3600 * (HOURS - 1)])
    values, covered = forecast.at(t)
    assert covered.tolist() == [False, True, True, False]  # before it; its last hour is None
    assert values[2].tolist() == [0.5, 0.8, 25.0]
    assert np.isnan(values[0]).all()
    for bad, message in [
        ({}, "no 'hourly'"),
        ({"hourly": {"time": [FIRST, FIRST + 60]}}, "consecutive hours"),
        ({"hourly": answer()["hourly"] | {"temperature_2m": [1.0]}}, "one value per hour"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_open_meteo(bad)


class Provider:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        assert request.url.params["timeformat"] == "unixtime"
        return httpx.Response(200, json=answer())


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = DeliverySettings(weather_url="https://weather.test")
    with serving(tmp_path_factory.mktemp("forecast"), settings) as api:
        service = api.client.app.state.platform.service_of(DeliveryService)
        provider = Provider()
        service.forecasts = ForecastCache(
            "https://weather.test",
            client=httpx.Client(transport=httpx.MockTransport(provider)),
            sleep=lambda s: None,
        )
        api.customer("w-1")
        yield type("World", (), {"api": api, "service": service, "provider": provider})


def ask(api: Api) -> dict[str, Any]:
    return dict(api.post("/predict/availability", json={"customer_id": "w-1"} | WINDOW).json())


def test_answers_read_a_cached_forecast_and_never_call_out(world: Any) -> None:
    api, service, provider = world.api, world.service, world.provider
    before = ask(api)
    assert before["weather"]["source"] == "climatology" and provider.calls == 0
    assert service.refresh_weather() == {"fetched": 1, "cached": 0, "failed": 0}
    after = ask(api)
    # The window's middle (15:00 UTC) is hour 15 of the forecast: 25 °C, 80 % rain.
    assert after["weather"] == {"source": "http", "precip_prob": 0.8, "temp_c": 25.0}
    body = {"customer_id": "w-1", "date": "2025-06-03", "earliest": "08:00", "latest": "12:00"}
    ranked = api.post("/predict/optimal-time", json=body).json()
    assert ranked["weather"]["source"] == "http"
    assert provider.calls == 1  # answers read the cache only
    # Within the hour the place is cached: no second call.
    assert service.refresh_weather() == {"fetched": 0, "cached": 1, "failed": 0}
    assert provider.calls == 1
    # A batch reads the same forecast: the same probability as the answer.
    pairs = pd.DataFrame([{"customer_id": "w-1"} | WINDOW])
    assert score_pairs(service, pairs).results[0]["probability"] == after["probability"]


def test_a_provider_that_is_down_leaves_the_climatology(world: Any) -> None:
    api, service, provider = world.api, world.service, world.provider
    provider.down = True
    assert service.refresh_weather() == {"fetched": 0, "cached": 0, "failed": 1}
    assert provider.calls == 2  # two attempts
    assert ask(api)["weather"]["source"] == "climatology"


def test_a_window_past_the_forecast_reads_the_climatology() -> None:
    forecast = Forecast(FIRST, np.zeros(2), np.zeros(2), np.zeros(2))
    values, covered = forecast.at(np.array([FIRST + 7200]))
    assert not covered.any() and np.isnan(values).all()
