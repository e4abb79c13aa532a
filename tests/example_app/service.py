"""Import, train, predict for the tips app (no FastAPI here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from foresight.platform.apps import ImportResult
from foresight.platform.errors import InvalidInput
from foresight.platform.runtime import Platform
from foresight.platform.training import Progress, TrainingOutcome, no_progress
from tests.example_app.model import MODEL_NAME, TipsTrainingSpec
from tests.example_app.schemas import TipRequest, TipsSettings
from tests.example_app.store import TipsStore


class TipsService:
    def __init__(self, platform: Platform, settings: TipsSettings) -> None:
        self.p, self.settings, self.store = platform, settings, TipsStore(platform.db)

    def import_frame(self, frame: pd.DataFrame) -> ImportResult:
        missing = {"bill", "party_size", "tip"} - set(frame.columns)
        if missing:
            raise InvalidInput(f"missing column(s) {', '.join(sorted(missing))}")
        self.store.replace(frame)
        return ImportResult(rows=len(frame), message=f"imported {len(frame)} tables")

    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        spec = TipsTrainingSpec(self.store.frame)
        return self.p.pipeline.run(spec, self.p.training_context(progress))

    def tally(self) -> dict[str, int]:
        """How many tables are stored (the app's scheduled task: cheap on purpose)."""
        return {"tables": len(self.store.frame())}

    def predict(self, req: TipRequest) -> dict[str, Any]:
        served = self.p.serve(MODEL_NAME)
        tip = float(served.model.predict(pd.DataFrame([req.model_dump()]))[0])
        return {"tip": round(tip, 2), "model_version": served.label, "fallback": served.fallback}
