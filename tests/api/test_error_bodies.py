"""Error answers: the one documented shape, small whatever the request held, words a
client can act on (no byte offsets posing as field names), and size limits (413)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.api.errors import error_body
from foresight.platform.errors import PayloadTooLarge
from foresight.platform.runtime import Platform
from foresight.platform.schemas import MAX_LISTED_ERRORS
from tests.conftest import make_settings

TIPS = "/api/v1/tips/predict"  # a body FastAPI parses
CHURN = "/api/v1/churn/predict"  # a body the route parses itself (pydantic-core)


def _json(client: TestClient, url: str, body: bytes, headers: dict[str, str]) -> dict:
    r = client.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    return r.json()


@pytest.mark.parametrize("url", [TIPS, CHURN])
def test_many_unknown_fields_give_a_small_answer(api: TestClient, keys, url: str) -> None:
    # 200,000 unknown keys (3.6 MB) once produced a 68 MB answer.
    body = json.dumps({f"unknown_field_{i:06d}": 1 for i in range(200_000)}).encode()
    r = api.post(url, content=body, headers={**keys["service"], "Content-Type": "application/json"})
    assert r.status_code == 422
    assert len(r.content) < 20_000, len(r.content)
    answer = r.json()
    assert len(answer["errors"]) == MAX_LISTED_ERRORS
    assert answer["error_count"] >= 200_000
    assert any(e["field"].startswith("unknown_field_") for e in answer["errors"])
    assert "and " in answer["detail"] and " more" in answer["detail"]


def test_echoed_values_are_clipped(api: TestClient, keys) -> None:
    name = "k" * 5000
    answer = _json(
        api, TIPS, json.dumps({name: 1, "bill": 10, "party_size": 2}).encode(), keys["service"]
    )
    field = answer["errors"][0]["field"]
    assert field.startswith("kkk") and len(field) <= 100 and field.endswith("…")
    assert len(answer["detail"]) <= 1000


@pytest.mark.parametrize("url", [TIPS, CHURN])
def test_malformed_json_names_line_and_column_not_a_byte_offset(
    api: TestClient, keys, url: str
) -> None:
    answer = _json(api, url, b'{"bill": 10,\n "party_size": }', keys["service"])
    assert answer["errors"] == [{"field": "body", "message": answer["errors"][0]["message"]}]
    message = answer["errors"][0]["message"]
    assert message.startswith("the request body is not valid JSON (line 2, column 16"), message
    assert "expect" in message  # the parser's reason: "expecting value" / "expected value"


@pytest.mark.parametrize("url", [TIPS, CHURN])
def test_an_empty_body_says_so(api: TestClient, keys, url: str) -> None:
    answer = _json(api, url, b"", keys["service"])
    assert answer["errors"][0]["message"].startswith("the request body is empty")


def test_a_body_not_sent_as_json_says_which_content_type(api: TestClient, keys) -> None:
    r = api.post(
        TIPS, content=b"bill=10", headers={**keys["service"], "Content-Type": "text/plain"}
    )
    assert r.status_code == 422
    assert "Content-Type: application/json" in r.json()["errors"][0]["message"]


def test_a_body_that_is_not_utf8_is_a_422(api: TestClient, keys) -> None:
    answer = _json(api, TIPS, b'{"bill": "\xff"}', keys["service"])
    assert "not UTF-8" in answer["detail"]


def test_auth_comes_before_body_parsing(api: TestClient, keys) -> None:
    # FastAPI parses a JSON body before it runs dependencies: a malformed body without a
    # key was a 422 that told an anonymous caller about the body instead of the key.
    for body in (b'{"broken": ', b'{"bill": "\xff"}'):
        r = api.post(TIPS, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401, r.text
        r = api.post(
            "/api/v1/admin/keys",
            content=body,
            headers={**keys["service"], "Content-Type": "application/json"},
        )
        assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/jobs/x/results?offset=9223372036854775808",
        "/api/v1/models/churn/info?version=9223372036854775808",
        "/api/v1/admin/audit?offset=9223372036854775808",
        "/api/v1/admin/events?since=9223372036854775808",
    ],
)
def test_integers_past_64_bits_are_a_422(api: TestClient, keys, url: str) -> None:
    r = api.get(url, headers=keys["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] in ("offset", "version", "since")


def test_a_parameter_given_twice_is_refused_unless_it_is_a_list(api: TestClient, keys) -> None:
    r = api.get("/api/v1/models?name=churn&name=sales", headers=keys["admin"])
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "name", "message": "give name once"}]
    r = api.get("/api/v1/admin/events?type=a&type=b", headers=keys["admin"])
    assert r.status_code == 200


def test_a_date_time_is_iso_8601_not_a_number(api: TestClient, keys) -> None:
    r = api.get("/api/v1/admin/audit?until=0.5", headers=keys["admin"])
    assert r.status_code == 422
    assert "ISO 8601" in r.json()["errors"][0]["message"]
    r = api.get("/api/v1/admin/audit?until=2026-01-31T09:30:00Z", headers=keys["admin"])
    assert r.status_code == 200


def test_405_names_every_method_of_the_path(api: TestClient, keys) -> None:
    r = api.request("PATCH", "/api/v1/admin/keys", headers=keys["admin"])
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert r.json() == {"detail": "Method Not Allowed"}
    # /webhooks/deliveries is its own path, not a /webhooks/{webhook_id}.
    r = api.request("PATCH", "/api/v1/admin/webhooks/deliveries", headers=keys["admin"])
    assert r.headers["allow"] == "GET"


def test_error_body_caps_any_error_list() -> None:
    details = [
        {"field": f"f{i}", "message": "x" * 1000, "row": i, "value": "v" * 500} for i in range(120)
    ]
    body = error_body("d" * 5000, details)
    assert len(body["detail"]) == 1000 and body["error_count"] == 120
    assert len(body["errors"]) == MAX_LISTED_ERRORS
    first = body["errors"][0]
    assert first["row"] == 0 and len(first["message"]) == 300 and len(first["value"]) == 100
    assert error_body("plain") == {"detail": "plain"}


def test_the_openapi_document_declares_the_error_shape_for_every_error(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ErrorResponse" in schemas
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, answer in responses.items():
                if status.startswith(("4", "5")) and path != "/ready":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (method, path, status)
            if path.startswith("/api/"):
                assert {"401", "403", "429", "503"} <= responses.keys(), (method, path)
                assert operation["security"] and operation["x-permission"]
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"413", "422"} <= responses.keys(), (method, path)


# ---- body size limits -------------------------------------------------------------------


@pytest.fixture
def small_limit(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An API whose JSON bodies may be at most 1 KiB."""
    platform = Platform.create(make_settings(tmp_path, max_body_bytes=1024))
    plain, _ = platform.keys.create(name="limits", role="admin")
    with TestClient(create_app(platform)) as client:
        yield client, {"X-API-Key": plain}
    platform.close()


def _big(n: int = 2000) -> bytes:
    return json.dumps({"bill": 10, "party_size": 2, "pad": "x" * n}).encode()


@pytest.mark.parametrize("url", [TIPS, CHURN, "/api/v1/admin/keys"])
def test_a_body_over_the_limit_is_a_413_from_its_content_length(small_limit, url: str) -> None:
    client, key = small_limit
    r = client.post(url, content=_big(), headers={**key, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "larger than the limit of 1,024 bytes" in r.json()["detail"]
    assert r.headers["x-request-id"]


def test_a_streamed_body_over_the_limit_is_a_413_while_it_arrives(small_limit) -> None:
    client, key = small_limit
    # A generator body is sent chunked, without a Content-Length to check up front.
    chunks = iter([b'{"bill": 10, "pad": "', *[b"x" * 512] * 8, b'"}'])
    r = client.post(TIPS, content=chunks, headers={**key, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text


def test_a_small_body_and_uploads_pass_the_json_limit(small_limit) -> None:
    client, key = small_limit
    r = client.post(TIPS, json={"bill": 10, "party_size": 2}, headers=key)
    assert r.status_code == 200, r.text  # the untrained tips model's default answer
    # A CSV upload to a route that streams it goes to the upload reader's own limit ...
    csv = b"customer_id,tenure\n" + b"C1,1\n" * 500
    r = client.post(
        "/api/v1/churn/predict/batch", content=csv, headers={**key, "Content-Type": "text/csv"}
    )
    # Read in full, then refused for what it asks (no churn model here), not for its size.
    assert r.status_code == 503 and "no churn model" in r.json()["detail"], r.text
    # ... but a route whose body FastAPI holds in memory keeps the limit whatever the type.
    r = client.post(TIPS, content=csv, headers={**key, "Content-Type": "text/csv"})
    assert r.status_code == 413


def test_payload_too_large_is_a_413(tmp_path: Path) -> None:
    platform = Platform.create(make_settings(tmp_path))
    app = create_app(platform)

    def upload() -> None:
        raise PayloadTooLarge("the upload is larger than the limit of 200 MiB")

    app.add_api_route("/upload", upload, methods=["POST"])
    with TestClient(app) as client:
        r = client.post("/upload")
    platform.close()
    assert r.status_code == 413
    assert r.json() == {"detail": "the upload is larger than the limit of 200 MiB"}
