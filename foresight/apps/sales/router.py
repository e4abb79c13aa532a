"""Sales HTTP routes under ``/api/v1/sales``."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from foresight.api.deps import Predictor, Reader, Writer
from foresight.apps.sales.schemas import (
    BacktestResponse,
    ForecastResponse,
    ImportResponse,
    IngestRequest,
    Product,
    TopProductsResponse,
)
from foresight.apps.sales.service import HORIZON, SalesService
from foresight.platform.runtime import Platform


def build_router(platform: Platform, service: SalesService, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["sales"])

    @router.get("/top-products", response_model=TopProductsResponse)
    def top_products(
        _: Predictor,
        time_period: Literal["week", "month", "quarter"] = "week",
        category: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 10,
    ) -> Response:
        """Products ranked by forecast revenue over the next week, month or quarter.

        Cached per the seed: key ``forecast:{category}:{period}:v{model_version}``, one hour,
        dropped on new data or a promotion; ``cached`` says whether this answer came from it.
        """
        body = service.top_products(time_period, category, limit)
        return Response(json.dumps(body), media_type="application/json")

    @router.get("/forecast", response_model=ForecastResponse)
    def forecast(
        _: Predictor,
        product_id: Annotated[str | None, Query(max_length=100)] = None,
        category: Annotated[str | None, Query(max_length=100)] = None,
        horizon: Annotated[int, Query(ge=1, le=HORIZON)] = 28,
        level: Annotated[float, Query(gt=0, lt=100)] = 80.0,
    ) -> dict:
        """Daily forecast with a conformal interval for one product or one category."""
        return service.forecast(product_id, category, horizon, level)

    @router.get("/backtest", response_model=BacktestResponse)
    def backtest(_: Reader) -> dict:
        """The production model's rolling-origin backtest: metrics per model and ensemble."""
        return service.backtest()

    @router.get("/products", response_model=list[Product])
    def products(_: Reader) -> list[dict]:
        return [{"product_id": k, **v} for k, v in sorted(service.products().items())]

    @router.post("/transactions", response_model=ImportResponse)
    def ingest(body: IngestRequest, principal: Writer) -> dict:
        """Append sales transactions (daily ingestion); cached answers are recomputed."""
        import pandas as pd

        frame = pd.DataFrame([t.model_dump() for t in body.transactions])
        if frame["revenue"].isna().any():
            missing = frame["revenue"].isna() & frame["unit_price"].isna()
            if missing.any():
                from foresight.platform.errors import InvalidInput

                rows = ", ".join(str(i) for i in frame.index[missing][:5])
                raise InvalidInput(f"transactions {rows} need revenue or unit_price")
            frame["revenue"] = (
                frame["revenue"].astype(float).fillna(frame["quantity"] * frame["unit_price"])
            )
        frame = frame.drop(columns=["unit_price"])
        if frame["category"].isna().all():
            frame = frame.drop(columns=["category"])
        result = service.import_frame(
            frame, source="api", mode="append", actor=f"key:{principal.key_id}"
        )
        return {"rows": result.rows, "message": result.message}

    return router
