"""Write-behind inserts for hot paths (prediction logs): batched off the request thread.

A row the database cannot take is never dropped: it is spooled to a local JSON-lines
file (``<spool_dir>/<table>--<writer>.jsonl``) and inserted once the database answers
again, by this process or — if it stops first — by the next one that writes the same
table. Files change hands only by an atomic rename, so each is inserted by one process;
a crash between the insert's commit and the file's removal can insert its rows twice
(at-least-once), never zero times.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import insert

from foresight.platform.db.engine import Database

log = structlog.get_logger(__name__)

RETRY_SECONDS = 1.0  # how often a writer with spooled rows tries the database again
SPOOL_FILE_BYTES = 32 * 2**20  # one spool file is inserted as one transaction
INSERT_ROWS = 5000  # rows per INSERT when a spool file is written back


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$datetime" in obj:
            return datetime.fromisoformat(obj["$datetime"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
    return obj


class BufferedWriter:
    """Collects rows for one table and inserts them in bulk every ``interval`` seconds.

    A request only appends to a list; a daemon thread does the I/O. ``flush()`` writes
    what is pending now (tests and shutdown call it). Rows that fail to insert go to the
    spool (``spool_dir``, default ``db.spool_dir``) and are retried every second.
    """

    def __init__(
        self,
        db: Database,
        table: Any,
        *,
        interval: float = 0.1,
        max_rows: int = 5000,
        spool_dir: Path | None = None,
    ) -> None:
        self.db, self.table, self.interval, self.max_rows = db, table, interval, max_rows
        self.spool_dir = spool_dir or db.spool_dir
        self._name = f"{table.name}--{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._retry_at = 0.0  # monotonic time before which the database counts as away
        self._look_at = 0.0  # monotonic time of the next look at the spool directory
        self._file = 0  # the spool file in use (a new one past SPOOL_FILE_BYTES)
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
        """Insert the spooled rows (when due) and the pending ones; returns rows inserted."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            now, written = time.monotonic(), 0
            if now >= self._retry_at and now >= self._look_at:
                written = self._drain_spool()
                self._look_at = now + RETRY_SECONDS  # orphans of dead processes, too
            if not rows:
                return written
            if time.monotonic() < self._retry_at:
                self._spool(rows)  # the database failed a moment ago: do not wait on it
                return written
            try:
                self._insert(rows)
            except Exception as exc:
                self._spool(rows)
                self._retry_at = time.monotonic() + RETRY_SECONDS
                log.warning(
                    "buffered_write_spooled", table=self.table.name, rows=len(rows), error=str(exc)
                )
                return written
            return written + len(rows)

    def spooled_files(self) -> list[Path]:
        """This table's spool files (this writer's and those other processes left)."""
        if self.spool_dir is None or not self.spool_dir.exists():
            return []
        return sorted(self.spool_dir.glob(f"{self.table.name}--*.jsonl"))

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.db.session() as s:
            s.execute(insert(self.table), rows)

    def _insert_file(self, path: Path) -> int:
        """Insert a spool file's rows in one transaction, :data:`INSERT_ROWS` at a time."""
        count = 0
        with self.db.session() as s, path.open(encoding="utf-8") as f:
            batch: list[dict[str, Any]] = []
            for line in f:
                if line.strip():
                    batch.append(json.loads(line, object_hook=_decode))
                if len(batch) >= INSERT_ROWS:
                    s.execute(insert(self.table), batch)
                    count, batch = count + len(batch), []
            if batch:
                s.execute(insert(self.table), batch)
                count += len(batch)
        return count

    def _spool(self, rows: list[dict[str, Any]]) -> None:
        if self.spool_dir is None:
            log.error("buffered_write_lost", table=self.table.name, rows=len(rows))
            return
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(r, default=_encode) + "\n" for r in rows)
        path = self.spool_dir / f"{self._name}-{self._file}.jsonl"
        if path.exists() and path.stat().st_size > SPOOL_FILE_BYTES:
            self._file += 1
            path = self.spool_dir / f"{self._name}-{self._file}.jsonl"
        with path.open("a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())  # the caller was answered: the row must survive a crash

    def _drain_spool(self) -> int:
        """Insert every spool file of this table, each in one transaction."""
        written = 0
        for path in self.spooled_files():
            claimed = path.with_name(f"{self._name}.draining-{uuid.uuid4().hex[:6]}")
            try:
                path.rename(claimed)  # atomic: one process gets each file
            except FileNotFoundError:
                continue  # another writer took it
            try:
                count = self._insert_file(claimed)
            except Exception as exc:
                claimed.rename(path.with_name(f"{self._name}-r{uuid.uuid4().hex[:6]}.jsonl"))
                self._retry_at = time.monotonic() + RETRY_SECONDS
                log.warning("buffered_spool_retry", table=self.table.name, error=str(exc))
                return written
            claimed.unlink()
            written += count
            log.info("buffered_spool_written", table=self.table.name, rows=count)
        return written

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=2)
        self._retry_at = self._look_at = 0.0  # one last try before the process ends
        self.flush()
