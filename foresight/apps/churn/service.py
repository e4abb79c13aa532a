"""Churn service: import, train, predict (one, batch, file), history and alerts.

No FastAPI here: the router and the CLI both call this class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select

from foresight.apps.churn import model as churn_model
from foresight.apps.churn.features import split_table
from foresight.apps.churn.schemas import PredictRequest
from foresight.apps.churn.tables import ChurnCustomerRow, ChurnDatasetRow, ChurnPredictionRow
from foresight.platform.apps import ImportResult
from foresight.platform.db.buffered import BufferedWriter
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.jobs import JobContext
from foresight.platform.runtime import Platform
from foresight.platform.serving import Served
from foresight.platform.tabular.signature import FieldError
from foresight.platform.training import Progress, TrainingOutcome, no_progress

NAME = churn_model.MODEL_NAME
CUSTOMER_TTL = 300.0
TIER_TTL = 30 * 24 * 3600.0
HIGH_RISK_EVENT = "churn.high_risk"


@dataclass
class Scored:
    """A scored frame: one entry per input row; ``ok`` marks rows without errors."""

    ids: list[str | None]
    probability: np.ndarray
    ok: np.ndarray
    errors: list[FieldError]
    model_version: str
    fallback: str | None

    @property
    def tiers(self) -> np.ndarray:
        return churn_model.risk_tiers(self.probability)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing cells become None, NumPy scalars plain Python."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in clean.to_dict("records")
    ]


class ChurnService:
    def __init__(self, platform: Platform, *, clock: Callable[[], datetime] | None = None) -> None:
        self.p = platform
        self.clock = clock or (lambda: datetime.now(UTC))
        self.log = BufferedWriter(platform.db, ChurnPredictionRow.__table__)

    # ---- data ------------------------------------------------------------------------
    def dataset(self) -> ChurnDatasetRow | None:
        with self.p.db.session() as s:
            return s.scalar(select(ChurnDatasetRow).order_by(ChurnDatasetRow.id.desc()).limit(1))

    def import_frame(
        self,
        frame: pd.DataFrame,
        *,
        source: str,
        id_column: str,
        target_column: str | None,
        positive_label: str | None = None,
        actor: str = "cli",
    ) -> ImportResult:
        """Replace the customer table with ``frame`` in one transaction (all or nothing)."""
        table, positive = split_table(
            frame, id_column=id_column, target_column=target_column, positive_label=positive_label
        )
        records = json_records(table.features)
        now = self.clock()
        target = table.target
        rows = [
            {
                "customer_id": cid,
                "attributes": attrs,
                "churned": None if target is None else bool(target[i]),
                "created_at": now,
                "updated_at": now,
            }
            for i, (cid, attrs) in enumerate(zip(table.ids, records, strict=True))
        ]
        with self.p.db.session() as s:
            s.execute(delete(ChurnCustomerRow))
            s.execute(ChurnCustomerRow.__table__.insert(), rows)
            s.add(
                ChurnDatasetRow(
                    source=source,
                    id_column=id_column,
                    target_column=target_column or "",
                    positive_label=positive or "",
                    columns=list(map(str, table.features.columns)),
                    row_count=len(rows),
                )
            )
        self.p.cache.delete_prefix(f"{NAME}:")
        self.p.audit(actor=actor, action="churn.import", target=source, details={"rows": len(rows)})
        churned = int(target.sum()) if target is not None else None
        message = f"imported {len(rows)} customers from {source}"
        if churned is not None:
            message += f" ({churned} churned, positive label {positive!r})"
        return ImportResult(rows=len(rows), message=message)

    def training_table(self) -> tuple[pd.DataFrame, np.ndarray | None]:
        ds = self.dataset()
        if ds is None:
            raise InvalidInput(
                "no customer data yet: run `foresight import churn FILE.csv "
                "--target COLUMN --id COLUMN` or `foresight demo`"
            )
        with self.p.db.session() as s:
            rows = s.execute(
                select(ChurnCustomerRow.attributes, ChurnCustomerRow.churned).order_by(
                    ChurnCustomerRow.customer_id
                )
            ).all()
        features = pd.DataFrame([r[0] for r in rows], columns=ds.columns)
        labels = [r[1] for r in rows]
        target = None if any(v is None for v in labels) else np.array(labels, dtype=np.int64)
        return features, target

    def customer(self, customer_id: str) -> dict[str, Any]:
        key = f"{NAME}:customer:{customer_id}"
        cached = self.p.cache.get(key)
        if cached is not None:
            return dict(cached)
        with self.p.db.session() as s:
            row = s.get(ChurnCustomerRow, customer_id)
            if row is None:
                raise NotFound(f"no customer with id {customer_id!r}")
            attrs = dict(row.attributes)
        self.p.cache.set(key, attrs, CUSTOMER_TTL)
        return attrs

    # ---- training ----------------------------------------------------------------------
    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        spec = churn_model.ChurnTrainingSpec(self.training_table)
        outcome = self.p.pipeline.run(spec, self.p.training_context(progress))
        self.p.server.invalidate(NAME)
        if outcome.promoted:
            self.p.cache.delete_prefix(f"{NAME}:")
        return outcome

    def served(self) -> Served:
        return self.p.server.resolve(NAME, rule=churn_model.rule_from_version)

    # ---- one customer (hot path) -------------------------------------------------------
    def predict(self, req: PredictRequest) -> dict[str, Any]:
        """Score one customer; the result has the shape of :class:`PredictResponse`."""
        features = req.features if req.features is not None else self.customer(str(req.customer_id))
        served = self.served()
        model = served.model
        row, errors = model.signature.encode_record(features)
        if errors:
            raise InvalidInput(
                "the customer does not match the model's fields: "
                + "; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
                details=[e.as_dict() for e in errors],
            )
        factors: list[dict[str, Any]] = []
        base = None
        if req.explain:
            expl = model.explain_one(row)
            p = expl.probability
            base = expl.base_probability
            factors = self._factors(model.signature, row, expl, req.top)
        else:
            p = float(model.predict_proba(row.reshape(1, -1))[0])
        tier = churn_model.risk_tier(p)
        now = self.clock()
        self._record(req.customer_id, p, tier, served, now, source="api")
        metrics = self.p.metrics
        metrics.child(metrics.predictions, NAME, served.label, served.fallback or "none").inc()
        # A plain dict, not a pydantic model: every value is built here from checked
        # inputs, and model construction was a measurable share of the hot path.
        return {
            "customer_id": req.customer_id,
            "churn_probability": round(p, 4),
            "prediction": "Yes" if p >= 0.5 else "No",
            "risk_tier": tier,
            "confidence_level": churn_model.confidence_level(p),
            "base_probability": None if base is None else round(base, 4),
            "top_factors": factors,
            "model_version": served.label,
            "fallback": served.fallback,
            "generated_at": now.isoformat(),
        }

    @staticmethod
    def _factors(signature: Any, row: np.ndarray, expl: Any, top: int) -> list[dict[str, Any]]:
        """The ``top`` largest contributions, in the user's column names and values."""
        contrib = expl.probability_contributions()
        log_odds = expl.log_odds
        values = row.tolist()
        order = sorted(range(len(contrib)), key=lambda i: abs(contrib[i]), reverse=True)
        out = []
        for i in order[:top]:
            if abs(log_odds[i]) < 1e-9:
                continue
            name, value = signature.columns[i].name, signature.decode_value(i, values[i])
            verb = "raises" if contrib[i] > 0 else "lowers"
            out.append(
                {
                    "feature": name,
                    "value": value,
                    "contribution": round(contrib[i], 4),
                    "log_odds": round(log_odds[i], 4),
                    "text": f"{name} = {value} {verb} risk by {abs(contrib[i]):.2f}",
                }
            )
        return out

    def _record(
        self,
        customer_id: str | None,
        p: float,
        tier: str,
        served: Served,
        now: datetime,
        *,
        source: str,
    ) -> None:
        self.log.add(
            {
                "customer_id": customer_id,
                "churn_probability": round(p, 4),
                "prediction": "Yes" if p >= 0.5 else "No",
                "risk_tier": tier,
                "confidence_level": churn_model.confidence_level(p),
                "model_version": served.label,
                "fallback": served.fallback,
                "source": source,
                "prediction_date": now,
            }
        )
        if customer_id is not None:
            self._check_alerts({customer_id: (tier, p)}, served.label)

    def _check_alerts(self, latest: dict[str, tuple[str, float]], version: str) -> None:
        """Publish ``churn.high_risk`` for each customer whose tier just became high."""
        high = [cid for cid, (tier, _) in latest.items() if tier == "high"]
        previous: dict[str, str | None] = {}
        unknown = []
        for cid in high:
            cached = self.p.cache.get(f"{NAME}:tier:{cid}")
            if cached is None:
                unknown.append(cid)
            else:
                previous[cid] = cached
        if unknown:
            previous.update(self._latest_tiers(unknown))
        for cid, (tier, p) in latest.items():
            self.p.cache.set(f"{NAME}:tier:{cid}", tier, TIER_TTL)
            if tier == "high" and previous.get(cid) != "high":
                self.p.notifier.publish(
                    HIGH_RISK_EVENT,
                    {
                        "customer_id": cid,
                        "churn_probability": round(p, 4),
                        "previous_tier": previous.get(cid),
                        "risk_tier": tier,
                        "model_version": version,
                    },
                )

    def _latest_tiers(self, ids: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        with self.p.db.session() as s:
            for chunk in range(0, len(ids), 500):
                query = _latest_per_customer(
                    ChurnPredictionRow.customer_id.in_(ids[chunk : chunk + 500])
                )
                out.update({r.customer_id: r.risk_tier for r in s.scalars(query)})
        return out

    # ---- many customers ----------------------------------------------------------------
    def id_column(self) -> str:
        ds = self.dataset()
        return ds.id_column if ds else "customer_id"

    def check_columns(self, columns: list[str]) -> None:
        """A file's header must hold the model's fields (plus optional id and target)."""
        signature = self.served().model.signature
        ds = self.dataset()
        allowed = set(signature.names) | {"customer_id"}
        if ds:
            allowed |= {ds.id_column, ds.target_column} | set(signature.dropped)
        missing = [c for c in signature.names if c not in columns]
        extra = [c for c in columns if c not in allowed]
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing column(s): " + ", ".join(missing))
            if extra:
                parts.append("unexpected column(s): " + ", ".join(extra))
            raise InvalidInput(
                "the file's columns do not match the model: " + "; ".join(parts),
                details=[{"field": c, "message": "missing"} for c in missing]
                + [{"field": c, "message": "not a model field"} for c in extra],
            )

    def score_frame(self, frame: pd.DataFrame) -> Scored:
        """Validate and score every row, vectorised; bad rows are reported, good ones scored."""
        served = self.served()
        signature = served.model.signature
        ds = self.dataset()
        id_col = next(
            (c for c in (ds.id_column if ds else None, "customer_id") if c and c in frame.columns),
            None,
        )
        ids: list[str | None] = (
            frame[id_col].astype(str).where(frame[id_col].notna(), None).tolist()
            if id_col
            else [None] * len(frame)
        )
        ignore = {c for c in (id_col, ds.target_column if ds else None) if c} | set(
            signature.dropped
        )
        errors: list[FieldError] = []
        for col in frame.columns:
            if col not in ignore and col not in signature.names:
                for pos in np.flatnonzero(frame[col].notna().to_numpy()):
                    errors.append(
                        FieldError(str(col), "unknown field; not one of the model's", int(pos))
                    )
        present = frame.reindex(columns=signature.names)
        matrix, cell_errors = signature.encode_frame(present)
        errors.extend(cell_errors)
        ok = np.ones(len(frame), dtype=bool)
        ok[[e.row for e in errors if e.row is not None]] = False
        probability = np.full(len(frame), np.nan)
        if ok.any():
            probability[ok] = served.model.predict_proba(matrix[ok])
        return Scored(
            ids,
            probability,
            ok,
            sorted(errors, key=lambda e: (e.row or 0, e.field)),
            served.label,
            served.fallback,
        )

    def store_scores(self, scored: Scored, *, source: str) -> None:
        """Write the scored rows that have a customer id, and raise alerts for new highs."""
        now = self.clock()
        tiers = scored.tiers
        rows, latest = [], {}
        for i in np.flatnonzero(scored.ok):
            cid = scored.ids[i]
            if cid is None:
                continue
            p = float(scored.probability[i])
            rows.append(
                {
                    "customer_id": cid,
                    "churn_probability": round(p, 4),
                    "prediction": "Yes" if p >= 0.5 else "No",
                    "risk_tier": tiers[i],
                    "confidence_level": churn_model.confidence_level(p),
                    "model_version": scored.model_version,
                    "fallback": scored.fallback,
                    "source": source,
                    "prediction_date": now,
                }
            )
            latest[cid] = (str(tiers[i]), p)
        if latest:
            self._check_alerts(latest, scored.model_version)
        if rows:
            with self.p.db.session() as s:
                s.execute(ChurnPredictionRow.__table__.insert(), rows)

    def score_all(self) -> int:
        """Score every stored customer (after training) so lists and alerts are current."""
        features, _ = self.training_table()
        ds = self.dataset()
        with self.p.db.session() as s:
            ids = list(
                s.scalars(
                    select(ChurnCustomerRow.customer_id).order_by(ChurnCustomerRow.customer_id)
                )
            )
        frame = features.copy()
        frame.insert(0, ds.id_column if ds else "customer_id", ids)
        scored = self.score_frame(frame)
        self.store_scores(scored, source="batch")
        return int(scored.ok.sum())

    def run_batch(self, ctx: JobContext) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Job body: score the job's input in chunks, reporting progress."""
        records = ctx.input()
        out: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        version = None
        chunk = 5000
        for start in range(0, len(records), chunk):
            frame = pd.DataFrame.from_records(records[start : start + chunk])
            scored = self.score_frame(frame)
            version = scored.model_version
            self.store_scores(scored, source="batch")
            tiers = scored.tiers
            for i in np.flatnonzero(scored.ok):
                p = float(scored.probability[i])
                out.append(
                    {
                        "row": start + i + 1,
                        "customer_id": scored.ids[i],
                        "churn_probability": round(p, 4),
                        "prediction": "Yes" if p >= 0.5 else "No",
                        "risk_tier": str(tiers[i]),
                    }
                )
            errors.extend(
                {"row": start + (e.row or 0) + 1, "field": e.field, "message": e.message}
                for e in scored.errors
            )
            bad = len({e["row"] for e in errors})
            ctx.progress(done=min(len(records), start + chunk) - bad, failed=bad)
        bad_rows = len({e["row"] for e in errors})
        return out, {
            "errors": errors[:10_000],
            "scored": len(out),
            "rejected": bad_rows,
            "model_version": version,
        }

    # ---- history and lists -------------------------------------------------------------
    def history(self, customer_id: str, limit: int = 100) -> list[ChurnPredictionRow]:
        self.log.flush()
        with self.p.db.session() as s:
            return list(
                s.scalars(
                    select(ChurnPredictionRow)
                    .where(ChurnPredictionRow.customer_id == customer_id)
                    .order_by(ChurnPredictionRow.prediction_id.desc())
                    .limit(limit)
                )
            )

    def recent(self, limit: int = 50) -> list[ChurnPredictionRow]:
        self.log.flush()
        with self.p.db.session() as s:
            return list(
                s.scalars(
                    select(ChurnPredictionRow)
                    .order_by(ChurnPredictionRow.prediction_id.desc())
                    .limit(limit)
                )
            )

    def _latest_query(self) -> Any:
        """Each stored customer's latest prediction."""
        return _latest_per_customer(ChurnPredictionRow.customer_id.is_not(None)).join(
            ChurnCustomerRow, ChurnCustomerRow.customer_id == ChurnPredictionRow.customer_id
        )

    def at_risk(
        self, *, tier: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[ChurnPredictionRow]:
        self.log.flush()
        q = self._latest_query()
        if tier:
            q = q.where(ChurnPredictionRow.risk_tier == tier)
        q = q.order_by(ChurnPredictionRow.churn_probability.desc()).limit(limit).offset(offset)
        with self.p.db.session() as s:
            return list(s.scalars(q))

    def risk_summary(self) -> dict[str, Any]:
        self.log.flush()
        with self.p.db.session() as s:
            probs = [r.churn_probability for r in s.scalars(self._latest_query())]
        arr = np.array(probs)
        tiers = churn_model.risk_tiers(arr) if len(arr) else np.array([])
        hist = np.histogram(arr, bins=10, range=(0, 1))[0] if len(arr) else np.zeros(10)
        counts = {t: int((tiers == t).sum()) for t in churn_model.TIERS}
        self.p.metrics.high_risk.set(counts["high"])
        return {"tiers": counts, "histogram": [int(x) for x in hist], "customers": len(arr)}

    def close(self) -> None:
        self.log.close()


def _latest_per_customer(condition: Any) -> Any:
    """The latest prediction of every customer matching ``condition``."""
    latest = (
        select(
            ChurnPredictionRow.customer_id,
            func.max(ChurnPredictionRow.prediction_id).label("m"),
        )
        .where(condition)
        .group_by(ChurnPredictionRow.customer_id)
        .subquery()
    )
    return select(ChurnPredictionRow).join(latest, ChurnPredictionRow.prediction_id == latest.c.m)
