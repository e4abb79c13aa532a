"""Model registry: named, versioned models with stages, gates and an audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from foresight.platform.artifacts import ArtifactStore
from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import GateResultRow, ModelVersionRow, StageEventRow
from foresight.platform.errors import Conflict, ModelNotFound

STAGES = ("staging", "production", "archived")


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version (a read-only snapshot of its registry row)."""

    id: int
    name: str
    version: int
    stage: str
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    signature: dict[str, Any]
    fallback: dict[str, Any]
    data_fingerprint: str
    run_id: int | None
    artifact_path: str
    artifact_sha256: str
    created_at: datetime
    promoted_at: datetime | None
    reference: dict[str, Any] | None = None  # training inputs' summary, for drift

    @property
    def label(self) -> str:
        """The version as responses name it, e.g. ``demand:v3``."""
        return f"{self.name}:v{self.version}"

    @classmethod
    def of(cls, row: ModelVersionRow) -> ModelVersion:
        return cls(
            id=row.id,
            name=row.model_name,
            version=row.version,
            stage=row.stage,
            algorithm=row.algorithm,
            params=row.params,
            metrics=row.metrics,
            signature=row.signature,
            fallback=row.fallback,
            data_fingerprint=row.data_fingerprint,
            run_id=row.run_id,
            artifact_path=row.artifact_path,
            artifact_sha256=row.artifact_sha256,
            created_at=row.created_at,
            promoted_at=row.promoted_at,
            reference=row.reference,
        )


@dataclass(frozen=True)
class GateResult:
    passed: bool
    metric: str
    candidate_value: float | None
    production_value: float | None
    production_version: int | None
    reason: str


class ModelRegistry:
    def __init__(self, db: Database, artifacts: ArtifactStore) -> None:
        self.db = db
        self.artifacts = artifacts

    # ---- write ---------------------------------------------------------------------
    def register(
        self,
        *,
        name: str,
        model: Any,
        algorithm: str,
        params: dict[str, Any],
        metrics: dict[str, Any],
        signature: dict[str, Any],
        fallback: dict[str, Any],
        data_fingerprint: str,
        run_id: int | None = None,
        reference: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Store the artifact and a new ``staging`` version; versions count up per name."""
        with self.db.session() as s:
            latest = s.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_name == name)
            )
            version = (latest or 0) + 1
            path = f"{name}/v{version}/model.pkl"
            sha = self.artifacts.save(path, model)
            row = ModelVersionRow(
                model_name=name,
                version=version,
                stage="staging",
                algorithm=algorithm,
                params=params,
                metrics=metrics,
                signature=signature,
                fallback=fallback,
                data_fingerprint=data_fingerprint,
                run_id=run_id,
                artifact_path=path,
                artifact_sha256=sha,
                reference=reference,
            )
            s.add(row)
            s.flush()
            return ModelVersion.of(row)

    def record_gate(self, name: str, candidate: int, result: GateResult) -> None:
        with self.db.session() as s:
            s.add(
                GateResultRow(
                    model_name=name,
                    candidate_version=candidate,
                    production_version=result.production_version,
                    metric=result.metric,
                    candidate_value=result.candidate_value,
                    production_value=result.production_value,
                    passed=result.passed,
                    reason=result.reason,
                )
            )

    def promote(
        self, name: str, version: int, *, actor: str = "system", reason: str = ""
    ) -> ModelVersion:
        """Make ``version`` production; the current production becomes archived."""
        with self.db.session() as s:
            target = self._row(s, name, version)
            if target.stage == "production":
                return ModelVersion.of(target)
            current = s.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.model_name == name, ModelVersionRow.stage == "production"
                )
            ).all()
            for row in current:
                s.add(
                    StageEventRow(
                        model_name=name,
                        version=row.version,
                        from_stage="production",
                        to_stage="archived",
                        actor=actor,
                        reason=f"replaced by v{version}",
                    )
                )
                row.stage = "archived"
            s.add(
                StageEventRow(
                    model_name=name,
                    version=version,
                    from_stage=target.stage,
                    to_stage="production",
                    actor=actor,
                    reason=reason,
                )
            )
            target.stage = "production"
            target.promoted_at = utcnow()
            s.flush()
            return ModelVersion.of(target)

    def rollback(self, name: str, *, actor: str = "system") -> ModelVersion:
        """Archive production and bring back the previous production version."""
        previous = self.previous_production(name)
        if previous is None:
            raise Conflict(f"{name} has no previous production version to roll back to")
        current = self.production(name)
        promoted = self.promote(
            name,
            previous.version,
            actor=actor,
            reason=f"rollback from v{current.version if current else '?'}",
        )
        return promoted

    # ---- read ----------------------------------------------------------------------
    def _row(self, s: Any, name: str, version: int) -> ModelVersionRow:
        row = s.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.model_name == name, ModelVersionRow.version == version
            )
        )
        if row is None:
            raise ModelNotFound(f"model {name} has no version {version}")
        return row

    def get(self, name: str, version: int) -> ModelVersion:
        with self.db.session() as s:
            return ModelVersion.of(self._row(s, name, version))

    def production(self, name: str) -> ModelVersion | None:
        with self.db.session() as s:
            row = s.scalar(
                select(ModelVersionRow).where(
                    ModelVersionRow.model_name == name, ModelVersionRow.stage == "production"
                )
            )
            return ModelVersion.of(row) if row else None

    def previous_production(self, name: str) -> ModelVersion | None:
        """The most recently promoted version that is no longer production."""
        with self.db.session() as s:
            row = s.scalar(
                select(ModelVersionRow)
                .where(
                    ModelVersionRow.model_name == name,
                    ModelVersionRow.stage == "archived",
                    ModelVersionRow.promoted_at.is_not(None),
                )
                .order_by(ModelVersionRow.promoted_at.desc())
                .limit(1)
            )
            return ModelVersion.of(row) if row else None

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        with self.db.session() as s:
            query = select(ModelVersionRow).order_by(
                ModelVersionRow.model_name, ModelVersionRow.version.desc()
            )
            if name:
                query = query.where(ModelVersionRow.model_name == name)
            return [ModelVersion.of(r) for r in s.scalars(query)]

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(ModelVersionRow.model_name).distinct()))

    def gates(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(GateResultRow)
                .where(GateResultRow.model_name == name)
                .order_by(GateResultRow.id.desc())
                .limit(limit)
            )
            return [
                {
                    "candidate_version": r.candidate_version,
                    "production_version": r.production_version,
                    "metric": r.metric,
                    "candidate_value": r.candidate_value,
                    "production_value": r.production_value,
                    "passed": r.passed,
                    "reason": r.reason,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]

    def load(self, mv: ModelVersion) -> Any:
        """The model object of a version (checksum verified)."""
        return self.artifacts.load(mv.artifact_path, mv.artifact_sha256)
