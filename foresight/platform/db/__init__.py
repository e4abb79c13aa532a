"""Storage: SQLAlchemy engine, tables and Alembic migrations (SQLite or PostgreSQL)."""

from foresight.platform.db.base import Base
from foresight.platform.db.engine import Database

__all__ = ["Base", "Database"]
