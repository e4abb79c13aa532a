"""Run Alembic migrations programmatically: the platform's chain plus each app's branch."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput

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
    try:
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise
        raise InvalidInput(
            f"the database was migrated by an app that is not loaded now ({exc}); add that "
            "app's package to FORESIGHT_APPS, or use another FORESIGHT_DATA_DIR / database"
        ) from None
