"""Churn request and response models (pydantic), the shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Tier = Literal["low", "medium", "high"]


class PredictRequest(BaseModel):
    """Score one customer: a stored one by id, or any customer by its full feature payload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer_id": "C00003"},
                {
                    "features": {
                        "gender": "Female",
                        "senior_citizen": 0,
                        "partner": "Yes",
                        "dependents": "No",
                        "tenure": 1,
                        "phone_service": "No",
                        "multiple_lines": "No phone service",
                        "internet_service": "DSL",
                        "online_security": "No",
                        "online_backup": "Yes",
                        "device_protection": "No",
                        "tech_support": "No",
                        "streaming_tv": "No",
                        "streaming_movies": "No",
                        "contract": "Month-to-month",
                        "paperless_billing": "Yes",
                        "payment_method": "Electronic check",
                        "monthly_charges": 29.85,
                        "total_charges": 29.85,
                    }
                },
            ]
        },
    )

    customer_id: str | None = Field(None, max_length=100, description="A stored customer's id.")
    features: dict[str, Any] | None = Field(None, description="All model fields, by column name.")
    explain: bool = Field(True, description="Include the top factors (exact TreeSHAP).")
    top: int = Field(5, ge=1, le=50, description="How many factors to return.")

    @model_validator(mode="after")
    def _one_source(self) -> PredictRequest:
        if self.customer_id is None and self.features is None:
            raise ValueError("give a customer_id, a features object, or both")
        return self


class Factor(BaseModel):
    feature: str
    value: Any
    contribution: float = Field(
        description="Probability points this value adds (+) or removes (-)."
    )
    log_odds: float = Field(description="Exact SHAP value in calibrated log-odds.")
    text: str


class PredictResponse(BaseModel):
    customer_id: str | None
    churn_probability: float
    prediction: Literal["Yes", "No"]
    risk_tier: Tier
    confidence_level: Literal["low", "medium", "high"]
    base_probability: float | None = None
    top_factors: list[Factor] = []
    model_version: str
    fallback: str | None = Field(description="None when production answered, else the level used.")
    generated_at: datetime


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)


class JobAccepted(BaseModel):
    job_id: str
    status: str
    status_url: str


class RowError(BaseModel):
    row: int = Field(description="1-based row number in the submitted list or file.")
    field: str
    message: str


class BatchResult(BaseModel):
    row: int
    customer_id: str | None
    churn_probability: float
    prediction: Literal["Yes", "No"]
    risk_tier: Tier


class BatchStatus(BaseModel):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    total: int
    scored: int
    rejected: int
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    model_version: str | None = None
    errors: list[RowError] = []
    results: list[BatchResult] | None = None


class PredictionRecord(BaseModel):
    prediction_id: int
    customer_id: str | None
    churn_probability: float
    prediction: str
    risk_tier: str
    confidence_level: str
    model_version: str
    fallback: str | None
    source: str
    prediction_date: datetime


class AtRiskCustomer(BaseModel):
    customer_id: str
    churn_probability: float
    risk_tier: str
    model_version: str
    prediction_date: datetime


class RiskSummary(BaseModel):
    tiers: dict[str, int]
    histogram: list[int] = Field(description="Customers per probability decile, 0-0.1 ... 0.9-1.")
    customers: int


class ImportResponse(BaseModel):
    rows: int
    message: str


class SchemaField(BaseModel):
    name: str
    kind: str
    nullable: bool
    categories: list[str] = []
    minimum: float | None = None
    maximum: float | None = None


class ModelSchema(BaseModel):
    model_version: str
    fields: list[SchemaField]
    id_column: str | None
    target_column: str | None
