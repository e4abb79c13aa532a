"""``churn.high_risk``: announced once when a customer's tier becomes high.

The tier a customer had before is what the alert compares with: for one prediction
(the hot path) it is remembered in the cache; for a batch chunk it is read from the
prediction log, and from the write buffer where the latest row has not landed yet.
"""

from __future__ import annotations

from typing import Any

from foresight.apps.churn.schemas import ChurnSettings
from foresight.apps.churn.store import ChurnStore
from foresight.platform.cache import AppCache
from foresight.platform.db.buffered import BufferedWriter
from foresight.platform.events import NewEvent
from foresight.platform.runtime import Platform

HIGH_RISK_EVENT = "churn.high_risk"


class HighRiskAlerts:
    def __init__(
        self,
        platform: Platform,
        settings: ChurnSettings,
        store: ChurnStore,
        log: BufferedWriter,
        cache: AppCache,
    ) -> None:
        self.p, self.settings, self.store, self.log, self.cache = (
            platform,
            settings,
            store,
            log,
            cache,
        )

    def check(self, latest: dict[str, tuple[str, float]], version: str) -> None:
        """Announce each customer in ``latest`` (id -> (tier, probability)) whose tier
        just became high. A batch chunk clears the remembered tiers once instead of
        writing one cache entry per row (a Redis round trip each, and churn of the
        whole cache)."""
        batch = len(latest) > 1
        high = [cid for cid, (tier, _) in latest.items() if tier == "high"]
        previous: dict[str, str | None] = {}
        unknown = []
        for cid in high:
            cached = None if batch else self.cache.get(f"tier:{cid}")
            if cached is None:
                unknown.append(cid)
            else:
                previous[cid] = cached
        if unknown:
            previous.update(self.store.latest_tiers(unknown))
            # The latest tier may still sit in the write buffer: it wins over the table
            # (read in memory, so the request never waits for a write).
            wanted = set(unknown)
            previous.update(
                {
                    r["customer_id"]: r["risk_tier"]
                    for r in self.log.pending()
                    if r["customer_id"] in wanted
                }
            )
        if batch:
            self.cache.clear("tier:")
        else:
            for cid, (tier, _) in latest.items():
                self.cache.set(f"tier:{cid}", tier, self.settings.tier_memory_seconds)
        alerts = [
            _alert(cid, tier, p, previous.get(cid), version)
            for cid, (tier, p) in latest.items()
            if tier == "high" and previous.get(cid) != "high"
        ]
        # One event-log transaction and one wake of the webhook sender per chunk: one
        # by one they were most of a batch's time.
        self.p.announce_many([NewEvent(HIGH_RISK_EVENT, a["customer_id"], a) for a in alerts])


def _alert(cid: str, tier: str, p: float, previous: str | None, version: str) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "churn_probability": round(p, 4),
        "previous_tier": previous,
        "risk_tier": tier,
        "model_version": version,
    }
