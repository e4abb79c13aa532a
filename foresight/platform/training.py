"""The training pipeline runner: validate → features → tune → fit → evaluate → register →
gate → promote, each step timed and the whole run logged in ``training_runs``.

An app supplies a :class:`TrainingSpec`; the runner owns the order, the logging, the
registry and the promotion gate, so every app trains the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import TrainingRunRow
from foresight.platform.registry import GateResult, ModelRegistry, ModelVersion

log = structlog.get_logger(__name__)

Progress = Callable[[str, float, str], None]
"""``progress(step, fraction_of_step_done, message)``."""

STEPS = ("validate", "features", "tune", "fit", "evaluate", "register", "gate", "promote")


def no_progress(step: str, fraction: float, message: str) -> None:
    return None


@dataclass
class TrainingContext:
    seed: int
    tuning_seconds: float
    tuning_trials: int
    progress: Progress = no_progress
    members: tuple[str, ...] | None = None  # the tabular learner's candidates; None: all


@dataclass
class Fitted:
    model: Any
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Described:
    signature: dict[str, Any]
    fallback: dict[str, Any]
    data_fingerprint: str
    # A summary of the training inputs (``drift.Reference.to_dict()``) to compare the
    # production inputs with; None when the model takes no row inputs.
    reference: dict[str, Any] | None = None


class TrainingSpec(Protocol):
    """What an app provides to be trained by the pipeline."""

    model_name: str
    gate_metric: str
    higher_is_better: bool
    gate_tolerance: float

    def validate(self, ctx: TrainingContext) -> Any: ...
    def features(self, data: Any, ctx: TrainingContext) -> Any: ...
    def tune(self, dataset: Any, ctx: TrainingContext) -> dict[str, Any]: ...
    def fit(self, dataset: Any, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted: ...
    def evaluate(self, fitted: Fitted, dataset: Any, ctx: TrainingContext) -> dict[str, Any]: ...
    def describe(self, fitted: Fitted, dataset: Any) -> Described: ...
    def score(self, model: Any, dataset: Any) -> float | None:
        """The gate metric of any model on this dataset's holdout; None if it cannot run."""
        ...


@dataclass
class TrainingOutcome:
    run_id: int
    version: ModelVersion
    gate: GateResult
    promoted: bool
    wall_seconds: float
    steps: list[dict[str, Any]]


Announce = Callable[[str, dict[str, Any]], object]


class TrainingPipeline:
    def __init__(
        self,
        db: Database,
        registry: ModelRegistry,
        announce: Announce | None = None,
        on_promote: Callable[[str], object] | None = None,
    ):
        self.db = db
        self.registry = registry
        self.announce = announce or (lambda event, payload: None)
        # The serving layer forgets its production pointer at once (hot swap).
        self.on_promote = on_promote or (lambda name: None)

    def run(
        self, spec: TrainingSpec, ctx: TrainingContext, *, promote: bool = True
    ) -> TrainingOutcome:
        """Run every step; a failure marks the run failed and re-raises (nothing registered)."""
        with self.db.session() as s:
            run = TrainingRunRow(model_name=spec.model_name, status="running")
            s.add(run)
            s.flush()
            run_id = run.id
        started = time.perf_counter()
        steps: list[dict[str, Any]] = []

        def step(name: str, fn: Callable[[], Any]) -> Any:
            ctx.progress(name, 0.0, f"{name}…")
            t0 = time.perf_counter()
            value = fn()
            seconds = time.perf_counter() - t0
            steps.append({"step": name, "seconds": round(seconds, 3)})
            ctx.progress(name, 1.0, f"done in {seconds:.1f} s")
            return value

        try:
            data = step("validate", lambda: spec.validate(ctx))
            dataset = step("features", lambda: spec.features(data, ctx))
            tuned = step("tune", lambda: spec.tune(dataset, ctx))
            fitted = step("fit", lambda: spec.fit(dataset, tuned, ctx))
            metrics = step("evaluate", lambda: spec.evaluate(fitted, dataset, ctx))
            described = spec.describe(fitted, dataset)
            version = step(
                "register",
                lambda: self.registry.register(
                    name=spec.model_name,
                    model=fitted.model,
                    algorithm=fitted.algorithm,
                    params=fitted.params,
                    metrics=metrics,
                    signature=described.signature,
                    fallback=described.fallback,
                    data_fingerprint=described.data_fingerprint,
                    run_id=run_id,
                    reference=described.reference,
                ),
            )
            gate = step("gate", lambda: self.gate(spec, version, dataset))
            promoted = False
            if gate.passed and promote:
                step(
                    "promote",
                    lambda: self.registry.promote(
                        spec.model_name, version.version, reason=gate.reason
                    ),
                )
                self.on_promote(spec.model_name)
                promoted = True
        except BaseException as exc:
            self._finish(run_id, "failed", started, steps, {}, error=f"{type(exc).__name__}: {exc}")
            raise
        wall = self._finish(run_id, "succeeded", started, steps, metrics)
        log.info(
            "training_run",
            model=spec.model_name,
            version=version.version,
            promoted=promoted,
            seconds=round(wall, 2),
        )
        return TrainingOutcome(
            run_id, self.registry.get(spec.model_name, version.version), gate, promoted, wall, steps
        )

    def gate(self, spec: TrainingSpec, candidate: ModelVersion, dataset: Any) -> GateResult:
        """Compare the candidate with production on the candidate's own holdout; record it."""
        metric = spec.gate_metric
        cand_value = candidate.metrics.get(metric)
        production = self.registry.production(spec.model_name)
        prod_value: float | None = None
        if production is None:
            result = GateResult(True, metric, cand_value, None, None, "no production model yet")
        else:
            try:
                prod_value = spec.score(self.registry.load(production), dataset)
            except Exception as exc:  # an unreadable production model cannot block a fix
                log.warning("gate_production_unscorable", error=str(exc))
                prod_value = None
            if prod_value is None or cand_value is None:
                result = GateResult(
                    True,
                    metric,
                    cand_value,
                    None,
                    production.version,
                    "production model cannot be scored on this data (schema changed)",
                )
            else:
                sign = 1 if spec.higher_is_better else -1
                gap = sign * (cand_value - prod_value)  # > 0: the candidate is better
                passed = gap >= -spec.gate_tolerance
                if gap >= 0:
                    verdict = "not worse than"
                elif passed:
                    verdict = "worse, but within the gate tolerance of,"
                else:
                    verdict = "worse than"
                result = GateResult(
                    passed,
                    metric,
                    cand_value,
                    prod_value,
                    production.version,
                    f"holdout {metric} {cand_value:.4f} is {verdict} production "
                    f"v{production.version} ({prod_value:.4f}, tolerance {spec.gate_tolerance})",
                )
        self.registry.record_gate(spec.model_name, candidate.version, result)
        if not result.passed:
            self.announce(
                "model.gate_failed",
                {
                    "model": spec.model_name,
                    "candidate_version": candidate.version,
                    "reason": result.reason,
                },
            )
        return result

    def _finish(
        self,
        run_id: int,
        status: str,
        started: float,
        steps: list[dict[str, Any]],
        metrics: dict[str, Any],
        error: str | None = None,
    ) -> float:
        wall = time.perf_counter() - started
        with self.db.session() as s:
            run = s.get(TrainingRunRow, run_id)
            assert run is not None
            run.status, run.finished_at, run.wall_seconds = status, utcnow(), round(wall, 3)
            run.steps, run.metrics, run.error = steps, metrics, error
        return wall
