"""An unexpected error is one JSON 500 that names its request id, logged once with it."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.platform.logging import configure_logging
from foresight.platform.runtime import Platform


def test_a_500_carries_its_request_id_and_is_logged_once_with_it(
    platform: Platform, capsys, monkeypatch
) -> None:
    import structlog

    from foresight.api import middleware

    app = create_app(platform)

    def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", explode)
    configure_logging("INFO", json=True)
    monkeypatch.setattr(middleware, "log", structlog.get_logger("foresight.access"))
    try:
        # raise_server_exceptions: an exception escaping the app would fail this call.
        with TestClient(app) as client:
            r = client.get("/boom", headers={"X-Request-ID": "req-500"})
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        configure_logging("WARNING", json=False)
    assert r.status_code == 500 and r.headers["x-request-id"] == "req-500"
    assert "req-500" in r.json()["detail"] and "secret" not in r.text
    errors = [x for x in lines if x.get("event") == "unhandled_error"]
    assert len(errors) == 1 and errors[0]["request_id"] == "req-500"
    assert errors[0]["error_type"] == "RuntimeError"


def test_a_client_request_id_is_cut_to_safe_characters_and_the_500_stays_json(
    platform: Platform,
) -> None:
    app = create_app(platform)

    def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", explode)
    with TestClient(app) as client:
        r = client.get("/boom", headers={"X-Request-ID": 'a"b\\c<d>' + "x" * 100})
        assert r.status_code == 500
        body = r.json()  # a quote in the id used to make the body invalid JSON
        assert r.headers["x-request-id"] == "abcd" + "x" * 60
        assert body == {
            "detail": f"internal error; quote request id {'abcd' + 'x' * 60} to the operator"
        }
        r = client.get("/live", headers={"X-Request-ID": '"<>"'})
        assert len(r.headers["x-request-id"]) == 32  # nothing safe left: a fresh id


def test_a_validation_error_in_server_code_is_a_logged_500_not_a_422(platform: Platform) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        count: int

    app = create_app(platform)

    def broken() -> dict:
        return Answer(count="many").model_dump()  # type: ignore[arg-type]  # a server bug

    app.add_api_route("/broken", broken)
    with TestClient(app) as client:
        r = client.get("/broken", headers={"X-Request-ID": "req-bug"})
    assert r.status_code == 500  # was a 422 blaming the client, and nothing logged
    assert "req-bug" in r.json()["detail"]
