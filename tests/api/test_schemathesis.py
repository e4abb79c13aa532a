"""Schemathesis over the whole OpenAPI: every app, every operation, every default check
(no 5xx; status codes, content types, headers and bodies as documented; schema-valid
requests accepted, schema-violating ones refused; auth not ignored; 405 with ``Allow``).

The document is built at import, from a throwaway platform with the same apps, because
schemathesis makes one test per operation when pytest collects. The requests go to a copy
of the session's trained platform: the run's writes (keys, promotions, transactions,
outcomes, webhooks) touch no other test's data. A new app's routes join the run by
themselves.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from foresight.api.app import create_app
from foresight.platform.runtime import Platform
from tests.conftest import make_settings

# Cases per operation past schemathesis's own coverage cases (boundaries, each
# constraint broken once): about 2,000 cases in all (3,500 requests with the checks' own
# probes), about a minute on 2 cores.
MAX_EXAMPLES = 20
# Positive-data acceptance expects 2xx/401/403/404/409/429 for any schema-valid request.
# These operations also check values against stored data or across parameters, which no
# schema can say (a 422 names the value): an unknown category, both or neither of
# product_id and category, a transaction for a product new to the store without a category;
# churn features checked against the serving model's signature (its fields, categories
# and types are known only once a model is trained, and change when it is retrained).
# Uploads: any bytes fit `format: binary`, but only a CSV with the model's (or the
# import's) columns can be scored or imported. A tabular model's records, likewise, are
# checked against the signature of the model the path names.
DATA_CHECKED = [
    "POST /api/v1/churn/predict",
    "POST /api/v1/churn/predict/batch",
    "POST /api/v1/churn/import",
    "GET /api/v1/sales/top-products",
    "GET /api/v1/forecast/top-products",
    "GET /api/v1/sales/forecast",
    "POST /api/v1/sales/transactions",
    "POST /api/v1/models/{model_id}/predict",
    # Checked against the mirror: known items and categories, the forecastable window.
    "GET /api/v1/restaurant/demand",
    "GET /api/v1/restaurant/customer/{customer_id}",
    # ...known items, sizes and ingredients, and the restaurant's opening hours.
    "POST /api/v1/restaurant/kitchen",
    "GET /api/v1/restaurant/kitchen",
    "POST /api/v1/restaurant/kitchen/delivery",
    "GET /api/v1/restaurant/inventory",
    # A URL the schema's string allows may still be no URL (a port above 65535): a 422.
    "POST /api/v1/admin/webhooks",
    # Rules across fields (a window's end after its start, a failure reason only when not
    # delivered, unique weekdays), an empty upload, an unknown event type: a 422 that
    # names the field.
    "POST /api/v1/delivery/customers",
    "POST /api/v1/delivery/customers/import",
    "POST /api/v1/delivery/predict/batch",
    # A feed URL must be public and resolve (no name resolves in tests); a refresh needs
    # a feed.
    "PUT /api/v1/delivery/customers/{customer_id}/calendar/feed",
    # Any bytes fit the upload's schema; only an iCalendar file is a calendar.
    "PUT /api/v1/delivery/customers/{customer_id}/calendar",
    "POST /api/v1/delivery/customers/{customer_id}/calendar/refresh",
    "PATCH /api/v1/delivery/customers/{customer_id}",
    "POST /api/v1/delivery/customers/{customer_id}/attempts",
    "GET /api/v1/delivery/customers/{customer_id}/events",
    "POST /api/v1/delivery/predict/availability",
    # date or a date range of at most 14 days; the hours hold a window. Dates from 2000
    # to 2099, which a `format: date` cannot say.
    "POST /api/v1/delivery/predict/optimal-time",
    "GET /api/v1/delivery/customers/{customer_id}/heatmap",
]
ACCEPTED_WITH_422 = ["2xx", "401", "403", "404", "409", "422", "429"]
# Negative-data rejection expects a 4xx for any schema-violating request. A query string
# is text: `?type=true` is how both the string "true" (valid) and the boolean true (not a
# string, so "invalid") are sent, and no server can tell them apart.
TEXT_ONLY = ["GET /api/v1/admin/events"]


PENDING: dict[str, list[str]] = {}


def _config() -> schemathesis.Config:
    operations: list[dict[str, Any]] = [
        {
            "include-name": name,
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_WITH_422}},
        }
        for name in DATA_CHECKED
    ]
    operations += [
        {"include-name": name, "checks": {"negative_data_rejection": {"enabled": False}}}
        for name in TEXT_ONLY
    ]
    operations += [
        {"include-name": name, "checks": {check: {"enabled": False} for check in checks}}
        for name, checks in PENDING.items()
    ]
    return schemathesis.Config.from_dict({"operations": operations})


def _document() -> dict[str, Any]:
    """The OpenAPI document of an app over a fresh platform (no data needed)."""
    with tempfile.TemporaryDirectory() as directory:
        platform = Platform.create(make_settings(Path(directory)))
        try:
            return create_app(platform).openapi()
        finally:
            platform.close()


class _AppUnderTest:
    """The ASGI app the cases are sent to, plugged in by the ``fuzzed`` fixture (the
    schema exists before any fixture does)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


APP = _AppUnderTest()
schema = schemathesis.openapi.from_dict(_document(), config=_config())
schema.app = APP


def _copy(trained: Platform, path: Path) -> None:
    """The trained platform's data directory, its SQLite database copied consistently."""
    source = trained.settings.data_dir
    shutil.copytree(source, path, ignore=shutil.ignore_patterns("foresight.db*"))
    with sqlite3.connect(source / "foresight.db") as a, sqlite3.connect(path / "foresight.db") as b:
        a.backup(b)


@pytest.fixture(scope="module")
def fuzzed(trained: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A copy of the trained platform that the generated requests may change."""
    path = tmp_path_factory.mktemp("fuzzed") / "data"
    _copy(trained, path)
    # One fresh key per case (DELETE /admin/keys/{id} may revoke any other), so the
    # per-key rate limit is no limit here.
    platform = Platform.create(make_settings(path, rate_limit="1000000/minute"))
    # Webhooks the cases subscribe are answered here, never sent out.
    platform.notifier.client = httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(204))
    )
    APP.app = create_app(platform)
    yield platform
    platform.close()


def _call(case: schemathesis.Case, platform: Platform) -> None:
    plain, _ = platform.keys.create(name="schemathesis", role="admin")
    case.call_and_validate(headers={"X-API-Key": plain})


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same cases on every run and in CI
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, fuzzed: Platform) -> None:
    _call(case, fuzzed)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_at_length(
    case: schemathesis.Case, fuzzed: Platform
) -> None:
    _call(case, fuzzed)
