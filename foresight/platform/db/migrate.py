"""Run Alembic migrations programmatically: the platform's chain plus each app's branch."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config

from foresight.platform.db.engine import Database

PLATFORM_VERSIONS = Path(__file__).parent / "migrations" / "versions"


def alembic_config(db: Database, app_version_dirs: Iterable[Path] = ()) -> Config:
    """An Alembic config over the platform's versions and every app's own folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    locations = [str(PLATFORM_VERSIONS), *(str(p) for p in app_version_dirs)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    return cfg


def upgrade(db: Database, app_version_dirs: Iterable[Path] = ()) -> None:
    """Bring the schema to the newest revision of every branch (idempotent)."""
    cfg = alembic_config(db, app_version_dirs)
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
