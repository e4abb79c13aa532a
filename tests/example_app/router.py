"""Tips routes under ``/api/v1/tips``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from foresight.api.deps import Predictor, service_of
from tests.example_app.schemas import TipRequest, TipResponse
from tests.example_app.service import TipsService

router = APIRouter(prefix="/api/v1/tips", tags=["tips"])
Service = Annotated[TipsService, Depends(service_of(TipsService))]


@router.post("/predict", response_model=TipResponse)
def predict_tip(body: TipRequest, service: Service, _: Predictor) -> dict[str, Any]:
    """The expected tip for one table."""
    return service.predict(body)
