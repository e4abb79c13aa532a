"""Sales HTTP routes under ``/api/v1/sales`` and the seed's ``/api/v1/forecast`` path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response

from foresight.api.deps import Predictor, Reader, Writer, service_of
from foresight.api.responses import json_response
from foresight.apps.sales.features import HORIZON
from foresight.apps.sales.schemas import (
    BacktestResponse,
    ForecastResponse,
    IngestRequest,
    Product,
    TopProductsResponse,
)
from foresight.apps.sales.service import SalesService
from foresight.platform.schemas import ImportResponse

router = APIRouter(prefix="/api/v1/sales", tags=["sales"])
# The seed's own path for top products; the same handler answers both.
seed_router = APIRouter(prefix="/api/v1/forecast", tags=["sales"])
Service = Annotated[SalesService, Depends(service_of(SalesService))]


@router.get("/top-products", response_model=TopProductsResponse)
@seed_router.get("/top-products", response_model=TopProductsResponse)
def read_top_products(
    service: Service,
    _: Predictor,
    time_period: Literal["week", "month", "quarter"] = "week",
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 10,
) -> Response:
    """Products ranked by forecast revenue over the next week, month or quarter.

    Cached per the seed: key ``forecast:{category}:{period}:v{model_version}`` (in the
    sales namespace), one hour, dropped on new data or a promotion; ``cached`` says
    whether this answer came from it.
    """
    body = service.top_products(time_period, category, limit)
    return json_response(body)


@router.get(
    "/forecast",
    response_model=ForecastResponse,
    responses={404: {"description": "No product with that product_id."}},
)
def read_forecast(
    service: Service,
    _: Predictor,
    product_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    horizon: Annotated[int, Query(ge=1, le=HORIZON)] = 28,
    level: Annotated[float, Query(gt=0, lt=100)] = 80.0,
) -> dict[str, Any]:
    """Daily forecast with an interval for one product or one category."""
    return service.forecast(product_id, category, horizon, level)


@router.get("/backtest", response_model=BacktestResponse)
def read_backtest(service: Service, _: Reader) -> dict[str, Any]:
    """The production model's rolling-origin backtest: metrics per model and ensemble."""
    return service.backtest()


@router.get("/products", response_model=list[Product])
def read_products(service: Service, _: Reader) -> list[dict[str, Any]]:
    """Every product with its name and category."""
    return [{"product_id": k, **v} for k, v in sorted(service.products().items())]


@router.post("/transactions", response_model=ImportResponse)
def create_transactions(
    body: IngestRequest,
    service: Service,
    principal: Writer,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Repeat it on a retry: a key seen before changes nothing. Without "
            "one, an identical body counts as a retry.",
        ),
    ] = None,
) -> ImportResponse:
    """Append sales transactions (daily ingestion); cached answers are recomputed."""
    result = service.ingest(
        [t.model_dump() for t in body.transactions],
        actor=f"key:{principal.key_id}",
        idempotency_key=idempotency_key,
    )
    return ImportResponse(
        rows=result.rows,
        message=result.message,
        duplicate=bool(result.details.get("duplicate", False)),
    )
