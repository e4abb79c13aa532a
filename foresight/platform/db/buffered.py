"""Write-behind inserts for hot paths (prediction logs): batched off the request thread."""

from __future__ import annotations

import threading
from typing import Any

import structlog
from sqlalchemy import insert

from foresight.platform.db.engine import Database

log = structlog.get_logger(__name__)


class BufferedWriter:
    """Collects rows for one table and inserts them in bulk every ``interval`` seconds.

    A request only appends to a list; a daemon thread does the I/O. ``flush()`` writes
    what is pending now (tests and shutdown call it).
    """

    def __init__(
        self, db: Database, table: Any, *, interval: float = 0.1, max_rows: int = 5000
    ) -> None:
        self.db, self.table, self.interval, self.max_rows = db, table, interval, max_rows
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="buffered-writer", daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)
            if len(self._rows) >= self.max_rows:
                self._wake.set()

    def pending(self) -> list[dict[str, Any]]:
        """The rows added but not written yet (a copy), oldest first."""
        with self._lock:
            return list(self._rows)

    def flush(self) -> int:
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                with self.db.session() as s:
                    s.execute(insert(self.table), rows)
            except Exception:
                log.exception("buffered_write_failed", table=str(self.table), rows=len(rows))
                return 0
            return len(rows)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=2)
        self.flush()
