"""Customers: visit days from the mirror, the BG/NBD + Gamma-Gamma model's training, the
scores of every customer (list endpoint, push) and one customer's answer, cached 24 h."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from foresight.apps.restaurant import rfm
from foresight.apps.restaurant.customers import (
    CUSTOMERS,
    MIN_REPEATERS,
    CustomerData,
    CustomerModel,
    CustomerTrainingSpec,
    customer_answer,
    score_table,
    visits_fingerprint,
)
from foresight.apps.restaurant.features import last_complete_slot, local
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.serving import Served
from foresight.platform.training import Progress, TrainingOutcome, no_progress

if TYPE_CHECKING:
    from foresight.apps.restaurant.service import RestaurantService


class CustomerPart:
    """The customer model's data, training and answers for one restaurant service."""

    def __init__(self, service: RestaurantService) -> None:
        self.service = service
        self._memo: tuple[tuple[int, int], CustomerData, pd.DataFrame] | None = None

    def enough(self) -> bool:
        """Enough repeat customers for the model (else its weekly slot is skipped, and
        lookups answer from the RFM rule)."""
        try:
            _, table = self.data()
        except InvalidInput:  # no orders with a customer yet
            return False
        return int((table["x"] > 0).sum()) >= MIN_REPEATERS

    def forget(self) -> None:
        """Drop the visits kept for the current sync id (new data arrived)."""
        self._memo = None

    def data(self) -> tuple[CustomerData, pd.DataFrame]:
        """Visit days per customer up to the last complete day, and their RFM table (kept
        per sync id)."""
        version = self.service.features_version()
        memo = self._memo
        if memo is not None and memo[0] == version:
            return memo[1], memo[2]
        visits = self.service.store.visits()
        if visits.empty:
            raise InvalidInput("no orders with a customer_id mirrored yet")
        _, last = self.service.store.span()
        assert last is not None  # there are visits, so there are orders
        now = (
            pd.Timestamp(self.service.data_clock())
            .tz_convert(self.service.settings.zone)
            .tz_localize(None)
        )
        last_local = pd.Timestamp(last).tz_convert(self.service.settings.zone).tz_localize(None)
        as_of = last_complete_slot(last_local, now, "D")
        frame = pd.DataFrame(
            {
                "customer_id": visits["customer_id"].astype(str),
                "day": local(visits["ordered_at"], self.service.settings.zone).dt.normalize(),
                "amount": visits["revenue"].astype(float),
            }
        )
        frame = frame[frame["day"] <= as_of].reset_index(drop=True)
        data = CustomerData(
            frame, as_of, self.service.settings.customer_holdout_days, visits_fingerprint(frame)
        )
        table = rfm.rfm_table(frame, as_of)
        self._memo = (version, data, table)
        return data, table

    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        spec = CustomerTrainingSpec(lambda: self.data()[0])
        outcome = self.service.p.pipeline.run(spec, self.service.p.training_context(progress))
        self.write_scores()
        return outcome

    def _customer_link(
        self, served: Served, table: pd.DataFrame
    ) -> tuple[Any, dict[str, list[float]]]:
        model = served.model
        if isinstance(model, CustomerModel):
            return model, model.cuts
        return model, rfm.cut_points(table)

    def write_scores(self) -> int:
        """Score every customer with the link that answers now (list endpoint, push)."""
        served = self.service.p.serve(CUSTOMERS)
        _, table = self.data()
        link, cuts = self._customer_link(served, table)
        scored = score_table(table, link, cuts)
        columns = [
            "customer_id",
            "segment",
            "recency_days",
            "frequency",
            "monetary",
            "clv_12m",
            "p_alive",
            "expected_visits_30d",
        ]
        frame = scored[columns].assign(model_version=served.label, scored_at=self.service.p.clock())
        self.service.store.write_scores(frame)
        self.service.cache.clear("customer:")
        return len(frame)

    def lookup(self, customer_id: str) -> dict[str, Any]:
        """One customer's segment, value, churn risk and next expected visit."""
        served = self.service.p.serve(CUSTOMERS)
        key = f"customer:{customer_id}:{served.cache_tag}"
        return self.service.cached(
            key, self.service.settings.customer_ttl, lambda: self._lookup(customer_id, served)
        )

    def _lookup(self, customer_id: str, served: Served) -> dict[str, Any]:
        data, table = self.data()
        row = table[table["customer_id"] == customer_id]
        if row.empty:
            raise NotFound(
                f"unknown customer_id {customer_id!r} (no visit up to {data.as_of:%Y-%m-%d})",
                details=[{"field": "customer_id", "message": "unknown customer"}],
            )
        link, cuts = self._customer_link(served, table)
        scored = score_table(row.reset_index(drop=True), link, cuts).iloc[0]
        body = customer_answer(scored, data.as_of, link)
        return body | {"model_version": served.label, "fallback": served.fallback}

    def page(self, **filters: Any) -> dict[str, Any]:
        """A page of customers by value or risk, from the scores of the last training."""
        frame, total = self.service.store.scores(**filters)
        records = frame.drop(columns=["model_version", "scored_at"]).astype(object)
        records = records.where(records.notna(), None)
        return {
            "customers": records.to_dict("records"),
            "total": total,
            "scored_at": frame["scored_at"].max().isoformat() if len(frame) else None,
            "model_version": str(frame["model_version"].iloc[0]) if len(frame) else None,
        }
