"""Churn service: import, train, predict (one, many, a file), history and alerts.

No FastAPI here: the router and the CLI both call this class.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.churn import model as churn_model
from foresight.apps.churn.alerts import HighRiskAlerts
from foresight.apps.churn.batch import CHUNK_ROWS, score_chunks
from foresight.apps.churn.features import MAX_ID_CHARS, json_records, split_table
from foresight.apps.churn.model import Scored
from foresight.apps.churn.schemas import ChurnSettings, PredictRequest
from foresight.apps.churn.store import ChurnDatasetRow, ChurnPredictionRow, ChurnStore
from foresight.platform.apps import ImportResult
from foresight.platform.db.buffered import BufferedWriter
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.monitor import Outcome
from foresight.platform.runtime import Platform
from foresight.platform.schemas import OutcomeIn
from foresight.platform.serving import Served
from foresight.platform.tabular.signature import FieldError, FieldWarning
from foresight.platform.training import Progress, TrainingOutcome, no_progress

NAME = churn_model.MODEL_NAME


class ChurnService:
    def __init__(self, platform: Platform, settings: ChurnSettings) -> None:
        self.p = platform
        self.settings = settings
        self.clock = platform.clock
        self.store = ChurnStore(platform.db)
        self.cache = platform.cache_for("churn")
        self.log = BufferedWriter(platform.db, ChurnPredictionRow.__table__)
        self.alerts = HighRiskAlerts(platform, settings, self.store, self.log, self.cache)
        self._high_risk: tuple[float, int] | None = None  # (when counted, count)
        self._risk_changed = True

    # ---- data ------------------------------------------------------------------------
    def dataset(self) -> ChurnDatasetRow | None:
        return self.store.dataset()

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
        now, target = self.clock(), table.target
        rows = [
            {
                "customer_id": cid,
                "attributes": attrs,
                "churned": None if target is None else bool(target[i]),
                "created_at": now,
                "updated_at": now,
            }
            for i, (cid, attrs) in enumerate(
                zip(table.ids, json_records(table.features), strict=True)
            )
        ]
        self.store.replace_customers(
            rows,
            ChurnDatasetRow(
                source=source[:500],
                id_column=id_column,
                target_column=target_column or "",
                positive_label=positive or "",
                columns=list(map(str, table.features.columns)),
                row_count=len(rows),
            ),
        )
        self.cache.clear()
        self.p.audit(actor=actor, action="churn.import", target=source, details={"rows": len(rows)})
        message = f"imported {len(rows)} customers from {source}"
        if target is not None:
            message += f" ({int(target.sum())} churned, positive label {positive!r})"
        return ImportResult(rows=len(rows), message=message)

    def training_table(self) -> tuple[pd.DataFrame, np.ndarray | None]:
        ds = self.dataset()
        if ds is None:
            raise InvalidInput(
                "no customer data yet: run `foresight import churn FILE.csv "
                "--target COLUMN --id COLUMN` or `foresight demo`"
            )
        _, features, labels = self.store.customers(ds.columns)
        target = None if any(v is None for v in labels) else np.array(labels, dtype=np.int64)
        return features, target

    def customer(self, customer_id: str) -> dict[str, Any]:
        key = f"customer:{customer_id}"
        cached = self.cache.get(key)
        if cached is not None:
            return dict(cached)
        attrs = self.store.customer(customer_id)
        if attrs is None:
            raise NotFound(f"no customer with id {customer_id!r}")
        self.cache.set(key, attrs, self.settings.customer_ttl_seconds)
        return attrs

    # ---- training ----------------------------------------------------------------------
    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        """Train through the pipeline, then re-score every stored customer."""
        spec = churn_model.ChurnTrainingSpec(self.training_table)
        outcome = self.p.pipeline.run(spec, self.p.training_context(progress))
        if outcome.promoted:
            self.cache.clear()
        progress("score", 0.0, "scoring every stored customer")
        self.score_all()
        progress("score", 1.0, "scored")
        return outcome

    def served(self) -> Served:
        return self.p.serve(NAME)

    def model_schema(self) -> dict[str, Any]:
        """The fields the serving model expects, and the imported id/target columns."""
        served, ds = self.served(), self.dataset()
        return {
            "model_version": served.label,
            "fields": [vars(c) for c in served.model.signature.columns],
            "id_column": ds.id_column if ds else None,
            "target_column": ds.target_column if ds else None,
        }

    # ---- one customer (hot path) -------------------------------------------------------
    def predict(self, req: PredictRequest) -> dict[str, Any]:
        """Score one customer; the result has the shape of :class:`PredictResponse`."""
        features = req.features if req.features is not None else self.customer(str(req.customer_id))
        served = self.served()
        model = served.model
        warnings: list[FieldWarning] = []  # values outside the training range: scored
        row, errors = model.signature.encode_record(features, warnings=warnings)
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
            p, base = expl.probability, expl.base_probability
            factors = churn_model.factors(model.signature, row, expl, req.top)
        else:
            p = float(model.predict_proba(row.reshape(1, -1))[0])
        now = self.clock()
        record = churn_model.prediction_row(
            req.customer_id, p, served.label, served.fallback, source="api", at=now
        )
        if req.customer_id is None:
            self.log.add(record)
        else:
            # Behind the answer: the check does blocking I/O (cache, a SELECT, an insert).
            self.alerts.check_then_log(
                {req.customer_id: (record["risk_tier"], p)}, served.label, record
            )
        self._risk_changed = True  # the gauge recounts at a later scrape
        self.p.monitor.record_inputs(NAME, served.label, [features])
        metrics = self.p.metrics
        metrics.child(metrics.predictions, NAME, served.label, served.fallback or "none").inc()
        # A plain dict, not a pydantic model: every value is built here from checked
        # inputs, and model construction was a measurable share of the hot path.
        return {
            "customer_id": req.customer_id,
            "churn_probability": record["churn_probability"],
            "prediction": record["prediction"],
            "risk_tier": record["risk_tier"],
            "confidence_level": record["confidence_level"],
            "base_probability": None if base is None else round(base, 4),
            "top_factors": factors,
            "model_version": served.label,
            "fallback": served.fallback,
            "generated_at": now.isoformat(),
            "warnings": [w.as_dict() for w in warnings] if warnings else warnings,
        }

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
        ignore = {c for c in (id_col, ds.target_column if ds else None) if c}
        ignore |= set(signature.dropped)
        errors: list[FieldError] = [
            FieldError(str(id_col), f"longer than {MAX_ID_CHARS} characters", pos)
            for pos, cid in enumerate(ids)
            if cid is not None and len(cid) > MAX_ID_CHARS
        ]
        warnings: list[FieldWarning] = []
        for col in frame.columns:
            if col not in ignore and col not in signature.names:
                for pos in np.flatnonzero(frame[col].notna().to_numpy()):
                    errors.append(
                        FieldError(str(col), "unknown field; not one of the model's", int(pos))
                    )
        matrix, cell_errors = signature.encode_frame(
            frame.reindex(columns=signature.names), warnings=warnings
        )
        errors.extend(cell_errors)
        ok = np.ones(len(frame), dtype=bool)
        ok[[e.row for e in errors if e.row is not None]] = False
        probability = np.full(len(frame), np.nan)
        if ok.any():
            probability[ok] = served.model.predict_proba(matrix[ok])
        errors.sort(key=lambda e: (e.row or 0, e.field))
        return Scored(ids, probability, ok, errors, served.label, served.fallback, warnings)

    def store_scores(self, scored: Scored, *, source: str, job_id: str | None = None) -> None:
        """Write the scored rows that have a customer id, and raise alerts for new highs.
        ``job_id``: the batch job writing them (:meth:`discard_job` deletes them)."""
        now = self.clock()
        rows, latest = [], {}
        for result in scored.results():
            cid = result["customer_id"]
            if cid is None:
                continue
            p = result["churn_probability"]
            row = churn_model.prediction_row(
                cid, p, scored.model_version, scored.fallback, source=source, at=now
            )
            rows.append(row | {"job_id": job_id})
            latest[cid] = (result["risk_tier"], p)
        if latest:
            self.alerts.drain()  # single predictions queued before this chunk come before it
            self.alerts.check(latest, scored.model_version)
        self.store.add_predictions(rows)
        self._risk_changed = True

    def discard_job(self, job_id: str) -> int:
        """Delete the predictions a failed batch job stored (it is submitted again, and
        its results cannot be read); returns how many."""
        deleted = self.store.delete_job_predictions(job_id)
        self._risk_changed = True
        return deleted

    def score_all(self) -> int:
        """Score every stored customer (after training) so lists and alerts are current."""
        ds = self.dataset()
        if ds is None:
            return 0
        ids, features, _ = self.store.customers(ds.columns)
        features.insert(0, ds.id_column, ids)
        del ids
        # Chunk by chunk, like a batch job: the scored rows, their results and the
        # prediction rows are held for one chunk at a time, not for the whole table.
        chunks = (features.iloc[i : i + CHUNK_ROWS] for i in range(0, len(features), CHUNK_ROWS))
        scored = score_chunks(self, chunks, source="batch", monitor=False)
        return sum(int(s.ok.sum()) for _, s in scored)

    def resolve_outcome(self, item: OutcomeIn) -> Outcome:
        """The prediction an outcome judges: by id, or the customer's latest prediction
        made before the outcome was observed."""
        ds = self.dataset()
        at = item.observed_at or self.clock()
        self.flush()
        if item.prediction_id is not None:
            row = self.store.prediction(item.prediction_id)
        else:
            row = self.store.prediction_before(str(item.entity), at)
        if row is None:
            what = item.prediction_id or item.entity
            raise InvalidInput(f"no churn prediction for {what!r} made before {at:%Y-%m-%d}")
        return Outcome(
            model_name=NAME,
            model_version=row.model_version,
            predicted=row.churn_probability,
            observed=churn_model.observed_churn(item.observed, ds.positive_label if ds else None),
            observed_at=at,
            entity=row.customer_id,
            prediction_id=row.prediction_id,
        )

    # ---- history and lists -------------------------------------------------------------
    def history(self, customer_id: str, limit: int = 100) -> list[ChurnPredictionRow]:
        self.flush()
        return self.store.history(customer_id, limit)

    def recent(self, limit: int = 50) -> list[ChurnPredictionRow]:
        self.flush()
        return self.store.recent(limit)

    def at_risk(
        self, *, tier: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[ChurnPredictionRow]:
        self.flush()
        return self.store.at_risk(tier=tier, limit=limit, offset=offset)

    def risk_summary(self) -> dict[str, Any]:
        self.flush()
        arr = np.array(self.store.latest_probabilities())
        tiers = churn_model.risk_tiers(arr) if len(arr) else np.array([])
        hist = np.histogram(arr, bins=10, range=(0, 1))[0] if len(arr) else np.zeros(10)
        counts = {t: int((tiers == t).sum()) for t in churn_model.TIERS}
        self._high_risk, self._risk_changed = (time.monotonic(), counts["high"]), False
        return {"tiers": counts, "histogram": [int(x) for x in hist], "customers": len(arr)}

    def high_risk_count(self) -> int:
        """Customers whose latest prediction is high risk (the gauge). Recounted when
        predictions came in, at most every ``gauge_refresh_seconds``: the count scans the
        prediction log, and scrapes come every few seconds."""
        cached = self._high_risk
        fresh = cached is not None and (
            not self._risk_changed
            or time.monotonic() - cached[0] < self.settings.gauge_refresh_seconds
        )
        if cached is not None and fresh:
            return cached[1]
        return int(self.risk_summary()["tiers"]["high"])

    def flush(self) -> None:
        """Write every prediction answered so far (after its queued alert check)."""
        self.alerts.drain()
        self.log.flush()

    def close(self) -> None:
        self.alerts.close()  # queued checks end by logging their rows
        self.log.close()
