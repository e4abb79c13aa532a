"""Settings from ``FORESIGHT_*`` environment variables; unset means embedded backends."""

from __future__ import annotations

import os
import secrets
import time
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from foresight.platform.errors import InvalidInput
from foresight.platform.schedules import Schedule

RETENTION_DEFAULTS = {
    "predictions": 365.0,
    "monitoring": 14.0,
    "events": 90.0,
    "jobs": 30.0,
    "audit": 730.0,
    # Stream records behind every consumer group's checkpoint; at least as long as a
    # producer may retry an event, since an idempotency key is forgotten with its record.
    "streams": 8.0,
}


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``FORESIGHT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FORESIGHT_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path(".foresight"), description="Where embedded data lives.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite if unset.")
    redis_url: str | None = Field(default=None, description="Redis for L2 cache and limits.")
    redis_prefix: str = "foresight:"
    rate_limit: str = Field(default="1200/minute", description="Per API key, `limits` syntax.")
    tuning_seconds: float = Field(default=40.0, description="Time box for hyperparameter search.")
    tuning_trials: int = Field(default=60, description="Upper bound on tuning trials.")
    tabular_members: list[str] | None = Field(
        default=None,
        description="Candidates of the tabular learner (linear, catboost, lightgbm); all if unset.",
    )
    seed: int = 42
    log_level: str = "INFO"
    log_json: bool = True
    api_url: str = Field(
        default="http://127.0.0.1:8000", description="Where the dashboard finds the API."
    )
    api_key: str | None = Field(default=None, description="Key the dashboard and CLI clients use.")
    webhook_max_attempts: int = Field(default=5, ge=1, le=100)
    webhook_backoff_seconds: float = Field(default=1.0, ge=0)
    webhook_dispatch: bool = Field(
        default=True, description="Send webhooks from this process (a lease per subscriber)."
    )
    stream_backend: str | None = Field(
        default=None, description="Streams: database, redis or module:Class; redis if a URL is set."
    )
    stream_consumers: bool | None = Field(
        default=None,
        description="Run the apps' stream consumers in `foresight serve` too; by default only "
        "without Redis (one embedded process), since with Redis `foresight worker` runs them "
        "and a rolling restart of API workers would move partitions.",
    )
    webhook_rate_per_second: float = Field(
        default=10.0, gt=0, description="Most requests per second to one subscriber."
    )
    webhook_pause_after: int = Field(
        default=3, ge=1, description="Consecutive dead deliveries that pause a subscriber."
    )
    webhook_pause_seconds: float = Field(
        default=60.0, ge=0, description="First pause of a failing subscriber (doubles to 1 h)."
    )
    apps: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="App packages to load, comma-separated (each exposes an App as APP); "
        "unset: every installed app (the foresight.apps entry points).",
    )
    cache_backend: str | None = Field(
        default=None,
        description="L2 cache: memory (none), redis, or package.module:Class; "
        "default redis if a URL is set.",
    )
    ratelimit_backend: str | None = Field(
        default=None, description="memory, redis or package.module:Class; redis if a URL is set."
    )
    artifact_backend: str = Field(
        default="local", description="Where model artifacts live: local or module:Class."
    )
    event_backend: str = Field(
        default="database", description="The event log: database or module:Class."
    )
    scheduler: bool = Field(
        default=True, description="Run due scheduled tasks in `foresight serve` (one per cluster)."
    )
    scheduler_interval: float = Field(default=30.0, description="Seconds between checks.")
    monitor_schedule: str = Field(
        default="hourly", description="When drift and accuracy are checked for every model."
    )
    monitor_window: int = Field(
        default=1000, ge=30, le=100_000, description="Recent predictions/outcomes checked."
    )
    drift_retrain_cooldown_days: float = Field(
        default=7.0, ge=0, description="Least time between two retrainings a drift starts."
    )
    monitor_per_minute: int = Field(
        default=120, ge=1, description="Prediction inputs kept per model and minute for drift."
    )
    retention_days: dict[str, float] = Field(
        default_factory=lambda: dict(RETENTION_DEFAULTS),
        description='Days kept per table kind, JSON, e.g. {"predictions": 90}; 0 keeps forever.',
    )
    production_pointer_ttl: float = Field(
        default=1.0, description="Seconds a replica trusts its cached view of production models."
    )
    max_body_bytes: int = Field(
        default=10 * 2**20,
        ge=1024,
        description="Largest request body (JSON) in bytes; larger answers 413. CSV uploads "
        "have their own, larger limit.",
    )

    @field_validator("retention_days", mode="after")
    @classmethod
    def _keep_default_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        # Naming one kind must not turn every other kind's retention off.
        return {**RETENTION_DEFAULTS, **value}

    @field_validator("monitor_schedule", mode="after")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        try:
            Schedule.parse(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("apps", mode="before")
    @classmethod
    def _split_apps(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'foresight.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @cached_property
    def secret_key(self) -> str:
        """The instance secret: generated on first start, kept in the data dir, never in code."""
        return load_or_create_secret(self.data_dir / "secret.key")


def load_or_create_secret(path: Path) -> str:
    """Read the secret at ``path``; create it (mode 0600) if it does not exist yet."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # The winner may not have written yet: wait for its bytes, never return "".
        for _ in range(100):
            if text := path.read_text().strip():
                return text
            time.sleep(0.01)
        raise RuntimeError(f"{path} stays empty; delete it and start again") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
