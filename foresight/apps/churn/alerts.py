"""``churn.high_risk``: announced once when a customer's tier becomes high.

The tier a customer had before is what the alert compares with: for one prediction
(the hot path) it is remembered in the cache; for a batch chunk it is read from the
prediction log, and from the write buffer where the latest row has not landed yet.

One prediction's check runs behind its answer, on one thread, in order, then logs the
prediction (:meth:`HighRiskAlerts.check_then_log`): a slow or absent database or Redis
never holds up or fails an answered prediction.
"""

from __future__ import annotations

import threading
from collections import deque
from threading import Event
from typing import Any

import structlog

from foresight.apps.churn.schemas import ChurnSettings
from foresight.apps.churn.store import ChurnStore
from foresight.platform.cache import AppCache
from foresight.platform.db.buffered import BufferedWriter
from foresight.platform.events import NewEvent
from foresight.platform.runtime import Platform

HIGH_RISK_EVENT = "churn.high_risk"
BATCH_SECONDS = 0.005  # the check thread's wait for more predictions once woken
MAX_QUEUED = 10_000  # predictions waiting for their check, at most (memory bound)

log = structlog.get_logger(__name__)


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
        # A plain deque and one thread, not an executor: appending costs ~1 us, and the
        # thread works in batches (BATCH_SECONDS), so a busy process is not handing the
        # GIL to it after every prediction (an executor's Future and wake-up per
        # prediction cost ~100 us each in a tight loop, measured).
        self._queue: deque[tuple[dict[str, tuple[str, float]], str, dict[str, Any]] | Event] = (
            deque()
        )
        self._wake, self._hurry, self._stop = Event(), Event(), False
        self._thread = threading.Thread(target=self._run, name="churn-alerts", daemon=True)
        self._thread.start()

    def check_then_log(
        self, latest: dict[str, tuple[str, float]], version: str, record: dict[str, Any]
    ) -> None:
        """Queue the check of one prediction, then its log write (the check must see the
        tier before this one). Past ``MAX_QUEUED`` waiting (checks stuck on an absent
        database) or after ``close`` the row is logged now, its check skipped."""
        if self._stop or len(self._queue) >= MAX_QUEUED:
            log.warning("churn_alert_skipped", customer_id=record["customer_id"])
            self.log.add(record)
            return
        self._queue.append((latest, version, record))
        if not self._wake.is_set():  # the thread clears it before it empties the queue
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._hurry.wait(BATCH_SECONDS)  # let a batch gather, unless someone waits
            self._hurry.clear()
            self._wake.clear()
            self._work_off()
            if self._stop:
                return

    def _work_off(self) -> None:
        """Check and log everything queued; a failed check is logged, never raised."""
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, Event):
                item.set()  # a drain() waiting for what was queued before it
                continue
            latest, version, record = item
            try:
                self.check(latest, version)
            except Exception as exc:
                log.error("churn_alert_failed", error_type=type(exc).__name__, error=str(exc))
            self.log.add(record)

    def drain(self) -> None:
        """Wait until every prediction queued so far is checked and in the write buffer."""
        if not self._thread.is_alive():
            return
        done = Event()
        self._queue.append(done)
        self._hurry.set()
        self._wake.set()
        done.wait()

    def close(self) -> None:
        """Check and log what is queued, then stop the thread."""
        self._stop = True
        self._hurry.set()
        self._wake.set()
        self._thread.join()
        self._work_off()  # queued while the thread was stopping

    def check(self, latest: dict[str, tuple[str, float]], version: str) -> None:
        """Announce each customer in ``latest`` (id -> (tier, probability)) whose tier
        just became high. A batch chunk forgets its customers' remembered tiers in one
        call instead of writing one cache entry per row (a Redis round trip each, and
        churn of the whole cache)."""
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
            # The chunk's tiers are in the prediction log now: drop their remembered
            # ones (one round trip), so a single prediction reads the log next time.
            self.cache.delete_many(f"tier:{cid}" for cid in latest)
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
