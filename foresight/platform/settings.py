"""Settings from ``FORESIGHT_*`` environment variables; unset means embedded backends."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    seed: int = 42
    log_level: str = "INFO"
    log_json: bool = True
    api_url: str = Field(
        default="http://127.0.0.1:8000", description="Where the dashboard finds the API."
    )
    api_key: str | None = Field(default=None, description="Key the dashboard and CLI clients use.")
    webhook_max_attempts: int = 5
    webhook_backoff_seconds: float = 1.0
    sales_country: str | None = Field(
        default="US", description="Holiday calendar of the sales app (ISO code; empty: none)."
    )
    sales_retrain_days: float = Field(
        default=7.0, description="Retrain sales when the last training is this old (0: never)."
    )
    production_pointer_ttl: float = Field(
        default=1.0, description="Seconds a replica trusts its cached view of production models."
    )

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
        import os

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
