"""Models in production: input drift against the training reference stored with each
version, and accuracy from outcomes posted back. (Prometheus plumbing is in
``monitoring.py``; this module decides what to measure and when to alarm.)

Apps feed it: ``record_inputs`` on their prediction paths (a buffered append, off the
request thread) and ``add_outcomes`` from ``POST /api/v1/<app>/outcomes``. ``check``
compares the last ``window`` inputs of the production version with its reference
(:mod:`foresight.platform.drift`), scores the last ``window`` outcomes, sets the gauges,
stores the report and, when the model newly drifts, publishes ``drift.detected``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import structlog
from sklearn.metrics import roc_auc_score
from sqlalchemy import Boolean, Float, Integer, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from foresight.platform import drift
from foresight.platform.db.base import Base, JSONType, UTCDateTime, utcnow
from foresight.platform.db.buffered import BufferedWriter
from foresight.platform.db.engine import Database
from foresight.platform.monitoring import Metrics
from foresight.platform.registry import ModelRegistry

log = structlog.get_logger(__name__)
DRIFT_EVENT = "drift.detected"


class MonitorInputRow(Base):
    """The raw inputs of a recent prediction (a sample on batch paths)."""

    __tablename__ = "monitor_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    model_version: Mapped[str] = mapped_column(String(60))
    features: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OutcomeRow(Base):
    """What really happened, next to what was predicted for it."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    model_version: Mapped[str | None] = mapped_column(String(60), nullable=True)
    entity: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prediction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    predicted: Mapped[float] = mapped_column(Float)
    observed: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # One outcome per prediction (or per entity and day): a repeated post counts once.
    key: Mapped[str] = mapped_column(String(300), unique=True)


class MonitorReportRow(Base):
    __tablename__ = "monitor_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    model_version: Mapped[str | None] = mapped_column(String(60), nullable=True)
    drifted: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Outcome:
    """One observed outcome, resolved by its app to the prediction it judges."""

    model_name: str
    model_version: str | None
    predicted: float
    observed: float
    observed_at: datetime
    entity: str | None = None
    prediction_id: int | None = None

    @property
    def key(self) -> str:
        """What makes it the same outcome: its prediction, or its entity and day."""
        what = (
            f"#{self.prediction_id}"
            if self.prediction_id is not None
            else f"{self.entity}@{self.observed_at.date().isoformat()}"
        )
        return f"{self.model_name}|{what}"[:300]


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    """NaN and ±inf as None: PostgreSQL's JSONB refuses them, and one such value would
    lose the whole buffered batch."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def accuracy(task: str | None, predicted: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Metrics of predictions against outcomes: binary (probabilities vs 0/1) or
    regression.

    >>> accuracy("regression", np.array([1.0, 3.0]), np.array([2.0, 2.0]))["mae"]
    1.0
    """
    if len(predicted) == 0:
        return {}
    out: dict[str, float] = {"outcomes": float(len(predicted))}
    if task == "binary":
        out["brier"] = float(np.mean((predicted - observed) ** 2))
        out["accuracy"] = float(np.mean((predicted >= 0.5) == (observed >= 0.5)))
        if len(np.unique(observed)) == 2:
            out["roc_auc"] = float(roc_auc_score(observed, predicted))
    else:
        err = predicted - observed
        out["mae"] = float(np.mean(np.abs(err)))
        out["rmse"] = float(np.sqrt(np.mean(err**2)))
        out["bias"] = float(np.mean(err))
    return out


class Monitor:
    def __init__(
        self,
        db: Database,
        registry: ModelRegistry,
        metrics: Metrics,
        *,
        announce: Callable[[str, dict[str, Any]], object],
        window: int = 1000,
        per_minute: int = 120,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.registry, self.metrics = db, registry, metrics
        self.announce, self.window, self.clock = announce, window, clock
        self.per_minute = per_minute
        self._inputs = BufferedWriter(db, MonitorInputRow.__table__, interval=0.5)
        self._minute: dict[str, tuple[int, int]] = {}  # model -> (minute, rows kept)

    # ---- feeding ---------------------------------------------------------------------
    def record_inputs(self, model: str, version: str, rows: list[dict[str, Any]]) -> None:
        """Keep the raw inputs of predictions for the drift check (buffered), at most
        ``per_minute`` rows a minute per model: under heavy traffic the window then spans
        minutes of it rather than the last second, and the table stays small."""
        now = self.clock()
        minute = int(now.timestamp() // 60)
        seen_minute, kept = self._minute.get(model, (minute, 0))
        if seen_minute != minute:
            kept = 0
        room = self.per_minute - kept
        if room <= 0:
            return
        rows = rows[:room]
        self._minute[model] = (minute, kept + len(rows))
        for row in rows:
            self._inputs.add(
                {
                    "model_name": model,
                    "model_version": version,
                    "features": _json_safe(row),
                    "created_at": now,
                }
            )

    def add_outcomes(self, app: str, outcomes: list[Outcome]) -> tuple[int, int]:
        """Store resolved outcomes in one transaction; returns (new, duplicates). An
        outcome for a prediction (or entity and day) already judged is a duplicate."""
        rows = {o.key: o for o in outcomes}  # a repeat inside one post counts once too
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        values = [
            {
                "app": app,
                "model_name": o.model_name,
                "model_version": o.model_version,
                "entity": o.entity,
                "prediction_id": o.prediction_id,
                "predicted": o.predicted,
                "observed": o.observed,
                "observed_at": o.observed_at,
                "recorded_at": self.clock(),
                "key": key,
            }
            for key, o in rows.items()
        ]
        with self.db.session() as s:
            result = s.execute(
                insert(OutcomeRow).on_conflict_do_nothing().returning(OutcomeRow.model_name),
                values,
            )
            added = [r[0] for r in result]
        for model in added:
            self.metrics.child(self.metrics.outcomes, model).inc()
        return len(added), len(outcomes) - len(added)

    # ---- checking --------------------------------------------------------------------
    def recent_inputs(self, model: str, version: str) -> pd.DataFrame:
        self._inputs.flush()
        with self.db.session() as s:
            rows = s.scalars(
                select(MonitorInputRow.features)
                .where(
                    MonitorInputRow.model_name == model, MonitorInputRow.model_version == version
                )
                .order_by(MonitorInputRow.id.desc())
                .limit(self.window)
            ).all()
        return pd.DataFrame(list(rows))

    def recent_outcomes(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        with self.db.session() as s:
            rows = s.execute(
                select(OutcomeRow.predicted, OutcomeRow.observed)
                .where(OutcomeRow.model_name == model)
                .order_by(OutcomeRow.id.desc())
                .limit(self.window)
            ).all()
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])

    def check(self, model: str, *, task: str | None) -> dict[str, Any]:
        """Drift of the production version's recent inputs and accuracy of recent outcomes;
        sets the gauges, stores the report, announces a new drift."""
        production = self.registry.production(model)
        version = production.label if production else None
        report: dict[str, Any] = {
            "model": model,
            "model_version": version,
            "checked_at": self.clock().isoformat(),
            "drift": None,
            "accuracy": accuracy(task, *self.recent_outcomes(model)),
            "notes": [],
        }
        reference = production.reference if production else None
        current = self.recent_inputs(model, production.label) if production and reference else None
        if production is None:
            report["notes"].append("no production version")
        elif not reference:
            report["notes"].append("this model stores no training reference (no row inputs)")
        elif current is None or current.empty:
            report["notes"].append(f"no inputs recorded for {production.label} yet")
        else:
            found = drift.compare(drift.Reference.from_dict(reference), current)
            report["drift"] = found.to_dict()
            for feature in found.features:
                psi = feature.psi if feature.psi is not None else float("nan")
                self.metrics.child(self.metrics.drift_psi, model, feature.name).set(psi)
            self.metrics.child(self.metrics.drift_share, model).set(found.share_drifted)
        for key, value in report["accuracy"].items():
            self.metrics.child(self.metrics.model_accuracy, model, key).set(value)
        drifted = bool(report["drift"] and report["drift"]["dataset_drift"])
        was = self.latest(model)
        with self.db.session() as s:
            s.add(
                MonitorReportRow(
                    model_name=model, model_version=version, drifted=drifted, report=report
                )
            )
        if drifted and not (was and was["drifted"] and was["model_version"] == version):
            self.announce(
                DRIFT_EVENT,
                {
                    "model": model,
                    "model_version": version,
                    "drifted_features": report["drift"]["drifted_features"],
                    "share_drifted": report["drift"]["share_drifted"],
                },
            )
        report["drifted"] = drifted
        return report

    def latest(self, model: str) -> dict[str, Any] | None:
        """The last stored report of ``model``."""
        with self.db.session() as s:
            row = s.scalar(
                select(MonitorReportRow)
                .where(MonitorReportRow.model_name == model)
                .order_by(MonitorReportRow.id.desc())
                .limit(1)
            )
            if row is None:
                return None
            return {**row.report, "drifted": row.drifted, "model_version": row.model_version}

    def mark_retrained(self, model: str) -> None:
        """Note on the latest report that a drift started a retraining run."""
        with self.db.session() as s:
            row = s.scalar(
                select(MonitorReportRow)
                .where(MonitorReportRow.model_name == model)
                .order_by(MonitorReportRow.id.desc())
                .limit(1)
            )
            if row is not None:
                row.report = {**row.report, "retrained": True}

    def last_retrained(self, model: str) -> datetime | None:
        """When a drift last started a retraining of ``model``."""
        with self.db.session() as s:
            rows = s.scalars(
                select(MonitorReportRow)
                .where(MonitorReportRow.model_name == model, MonitorReportRow.drifted.is_(True))
                .order_by(MonitorReportRow.id.desc())
                .limit(200)
            )
            for row in rows:
                if row.report.get("retrained"):
                    return row.created_at
        return None

    def purge(self, before: datetime) -> int:
        """Retention: drop stored inputs, outcomes and reports older than ``before``."""
        self._inputs.flush()
        removed = 0
        with self.db.session() as s:
            for table, column in (
                (MonitorInputRow, MonitorInputRow.created_at),
                (OutcomeRow, OutcomeRow.recorded_at),
                (MonitorReportRow, MonitorReportRow.created_at),
            ):
                result = s.execute(delete(table).where(column < before))
                removed += int(getattr(result, "rowcount", 0) or 0)
        return removed

    def close(self) -> None:
        self._inputs.close()
