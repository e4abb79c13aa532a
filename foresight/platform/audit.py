"""The audit log: who changed what, when (keys, models, webhooks, imports); readable and
purged by retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from foresight.platform.db.engine import Database
from foresight.platform.db.tables import AuditRow


@dataclass(frozen=True)
class AuditQuery:
    """Filters for reading the log; every one optional, newest first."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def write(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        details: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """Record one admin action; with ``session``, in the caller's transaction, so a
        change and its audit row commit together or not at all."""
        row = AuditRow(
            actor=actor[:100], action=action[:100], target=target[:200], details=details or {}
        )
        if session is not None:
            session.add(row)
            return
        with self.db.session() as s:
            s.add(row)

    def read(self, query: AuditQuery) -> tuple[int, list[dict[str, Any]]]:
        """(how many entries match, the requested page of them)."""
        conditions = []
        if query.actor:
            conditions.append(AuditRow.actor == query.actor)
        if query.action:
            # "model." matches every model action; an exact name matches itself.
            if query.action.endswith("."):
                conditions.append(AuditRow.action.startswith(query.action))
            else:
                conditions.append(AuditRow.action == query.action)
        if query.target:
            conditions.append(AuditRow.target == query.target)
        if query.since:
            conditions.append(AuditRow.created_at >= query.since)
        if query.until:
            conditions.append(AuditRow.created_at < query.until)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(AuditRow).where(*conditions)) or 0
            rows = s.scalars(
                select(AuditRow)
                .where(*conditions)
                .order_by(AuditRow.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            )
            return int(total), [
                {
                    "id": r.id,
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "details": r.details,
                    "at": r.created_at,
                }
                for r in rows
            ]

    def purge(self, before: datetime) -> int:
        """Retention: drop entries written before ``before``."""
        with self.db.session() as s:
            result = s.execute(delete(AuditRow).where(AuditRow.created_at < before))
            return int(getattr(result, "rowcount", 0) or 0)
