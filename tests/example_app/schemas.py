"""Settings and HTTP bodies of the tips app."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from foresight.platform.apps import AppSettings


class TipsSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="FORESIGHT_TIPS_", extra="ignore")

    retrain_schedule: str = "off"
    tally_schedule: str = "off"


class TipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bill: float = Field(gt=0, le=100_000)
    party_size: int = Field(ge=1, le=100)


class TipResponse(BaseModel):
    tip: float
    model_version: str
    fallback: str | None
