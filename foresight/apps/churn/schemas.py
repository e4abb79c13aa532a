"""Churn request and response models (pydantic), the shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from foresight.platform.apps import AppSettings

Tier = Literal["low", "medium", "high"]


class ChurnSettings(AppSettings):
    """``FORESIGHT_CHURN_*``."""

    model_config = SettingsConfigDict(env_prefix="FORESIGHT_CHURN_", extra="ignore")

    retrain_schedule: str = Field(
        "off", description='When to retrain: "off", "weekly", "daily 03:00", "every 30d"…'
    )
    retrain_on_drift: bool = Field(
        False, description="Retrain when the monitor finds the inputs drifted."
    )
    gauge_refresh_seconds: float = Field(
        10.0, description="Least time between two recounts of the high-risk gauge."
    )
    customer_ttl_seconds: float = Field(300.0, description="How long a customer row is cached.")
    tier_memory_seconds: float = Field(
        30 * 24 * 3600.0, description="How long the last tier is remembered for alerts."
    )


class PredictRequest(BaseModel):
    """Score one customer: a stored one by id, or any customer by its full feature payload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # What the validator below enforces, said where clients read it.
            "anyOf": [{"required": ["customer_id"]}, {"required": ["features"]}],
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
            ],
        },
    )

    customer_id: str | None = Field(None, max_length=100, description="A stored customer's id.")
    features: dict[str, Any] | None = Field(None, description="All model fields, by column name.")
    explain: bool = Field(
        True, strict=True, description="Include the top factors (exact TreeSHAP)."
    )
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


class InputWarning(BaseModel):
    """A field whose value has the right type but lies outside what training saw."""

    field: str
    message: str = Field(
        examples=[
            "9999 is above the largest value seen in training (72); the prediction extrapolates"
        ]
    )
    value: Any = Field(description="The value as sent.")


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
    warnings: list[InputWarning] = Field(
        default_factory=list,
        description="Values outside the training range: the customer is scored, but the "
        "model extrapolates there, so trust the answer less. Empty when every value is in "
        "range. A value of the wrong type (true for a number, 1.5 for an integer) is a 422.",
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)


class BatchResult(BaseModel):
    """One scored row of a batch job (``GET /api/v1/jobs/{id}/results``)."""

    row: int
    customer_id: str | None
    churn_probability: float
    prediction: Literal["Yes", "No"]
    risk_tier: Tier
    warnings: str | None = Field(
        None,
        description="Only on rows with values outside the training range (the row is scored): "
        '"field: message" per value, joined by " | ".',
    )


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
