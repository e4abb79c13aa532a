"""Write-behind inserts for hot paths (prediction logs): batched off the request thread.

A row the database cannot take because it is *away* (a connection error) is never
dropped: the batch is spooled to a local JSON-lines file of its own
(``<spool_dir>/<table>--<writer>-<n>.jsonl``, written under a temporary name, fsync'd,
then renamed, so a spool file is always complete) and inserted once the database answers
again, by this process or — if it stops first — by the next one that writes the same
table. A file is claimed by renaming it to ``….claimed-<time>-<claimer>``, so each is
inserted by one process; a claim older than :data:`CLAIM_SECONDS` (its claimer died) is
taken over. A crash between the insert's commit and the file's removal can insert its
rows twice (at-least-once), never zero times.

A row the database *refuses* (a constraint, a value it cannot store) must not stall the
others: the batch is bisected, the good rows are inserted and each refused row is logged
and appended to ``<table>--<writer>.bad.jsonl``, set aside for a person to look at and
never retried.
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
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from foresight.platform.db.engine import Database

log = structlog.get_logger(__name__)

RETRY_SECONDS = 1.0  # how often a writer with spooled rows tries the database again
INSERT_ROWS = 5000  # rows per spool file (one file is inserted as one batch)
CLAIM_SECONDS = 300.0  # a claimed spool file older than this lost its claimer
BAD_SUFFIX = ".bad.jsonl"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return value.item()  # a NumPy scalar: its Python value
    return str(value)  # Decimal, UUID, …: spooling must never fail on a type


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$datetime" in obj:
            return datetime.fromisoformat(obj["$datetime"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
    return obj


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """The row as it comes back from the spool: NumPy scalars (which the PostgreSQL
    driver cannot adapt) as Python values."""
    decoded: dict[str, Any] = json.loads(json.dumps(row, default=_encode), object_hook=_decode)
    return decoded


def database_away(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached (retry later), rather than
    that it refused what was sent (retrying would fail the same way)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class _Away(Exception):
    """The database went away during a write; ``rows`` were not inserted."""

    def __init__(self, rows: list[dict[str, Any]], written: int) -> None:
        super().__init__(f"{len(rows)} rows not written")
        self.rows, self.written = rows, written


class BufferedWriter:
    """Collects rows for one table and inserts them in bulk every ``interval`` seconds.

    A request only appends to a list; a daemon thread does the I/O. ``flush()`` writes
    what is pending now (tests and shutdown call it). Rows that fail to insert because
    the database is away go to the spool (``spool_dir``, default ``db.spool_dir``) and
    are retried every second; rows it refuses are set aside (see the module docstring).
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
        self._id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._name = f"{table.name}--{self._id}"
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._retry_at = 0.0  # monotonic time before which the database counts as away
        self._look_at = 0.0  # monotonic time of the next look at the spool directory
        self._file = 0  # sequence number of this writer's spool files
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
            now, written = time.monotonic(), 0
            if now >= self._retry_at and now >= self._look_at:
                self._look_at = now + RETRY_SECONDS  # orphans of dead processes, too
                written = self._drain_spool()
            with self._lock:  # taken only now: a failing drain must not lose them
                rows, self._rows = self._rows, []
            if not rows:
                return written
            if time.monotonic() < self._retry_at:
                self._spool(rows)  # the database failed a moment ago: do not wait on it
                return written
            try:
                return written + self._write(rows)
            except _Away as away:
                self._spool(away.rows)
                self._retry_at = time.monotonic() + RETRY_SECONDS
                log.warning(
                    "buffered_write_spooled",
                    table=self.table.name,
                    rows=len(away.rows),
                    error=str(away.__cause__),
                )
                return written + away.written

    def spooled_files(self) -> list[Path]:
        """This table's spool files waiting to be inserted (this writer's, those other
        processes left, and claimed ones); set-aside ``.bad.jsonl`` files are not."""
        if self.spool_dir is None or not self.spool_dir.exists():
            return []
        found = self.spool_dir.glob(f"{self.table.name}--*")
        return sorted(
            p
            for p in found
            if ".claimed-" in p.name
            or (p.name.endswith(".jsonl") and not p.name.endswith(BAD_SUFFIX))
        )

    def set_aside_files(self) -> list[Path]:
        """This table's files of refused rows (never retried)."""
        if self.spool_dir is None or not self.spool_dir.exists():
            return []
        return sorted(self.spool_dir.glob(f"{self.table.name}--*{BAD_SUFFIX}"))

    # ---- writing ---------------------------------------------------------------------
    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.db.session() as s:
            s.execute(insert(self.table), rows)

    def _write(self, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows``, bisecting around the ones the database refuses (set aside);
        returns rows inserted. Raises :class:`_Away` with the rows not inserted when the
        database cannot be reached."""
        todo, written, plain = [rows], 0, False
        while todo:
            part = todo.pop()
            try:
                self._insert(part)
                written += len(part)
            except Exception as exc:
                if database_away(exc):
                    raise _Away([r for p in todo for r in p] + part, written) from exc
                if not plain:  # once: values the driver cannot adapt may be the cause
                    plain = True
                    todo.append([_plain(r) for r in part])
                elif len(part) == 1:
                    self._set_aside(part[0], exc)
                else:
                    todo += [part[len(part) // 2 :], part[: len(part) // 2]]
        return written

    def _set_aside(self, row: dict[str, Any], exc: Exception) -> None:
        error = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        log.error("buffered_write_refused", table=self.table.name, error=error, row=str(row)[:500])
        if self.spool_dir is None:
            return
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            with (self.spool_dir / f"{self._name}{BAD_SUFFIX}").open("a", encoding="utf-8") as f:
                f.write(json.dumps({"error": error, "row": row}, default=_encode) + "\n")
        except OSError:
            log.exception("buffered_set_aside_failed", table=self.table.name)

    # ---- the spool -------------------------------------------------------------------
    def _spool(self, rows: list[dict[str, Any]]) -> None:
        """Write ``rows`` to new spool files, each complete before it gets its name."""
        if self.spool_dir is None:
            log.error("buffered_write_lost", table=self.table.name, rows=len(rows))
            return
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = rows[start : start + INSERT_ROWS]
            try:
                self._spool_file(chunk)
            except BaseException:
                with self._lock:  # kept in memory for the next try; never dropped silently
                    self._rows[:0] = rows[start:]
                raise

    def _spool_file(self, rows: list[dict[str, Any]]) -> None:
        assert self.spool_dir is not None
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._file += 1
        path = self.spool_dir / f"{self._name}-{self._file}.jsonl"
        temp = self.spool_dir / f".{path.name}.tmp"  # not a spool name: never drained
        with temp.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, default=_encode) + "\n" for r in rows)
            f.flush()
            os.fsync(f.fileno())  # the caller was answered: the rows must survive a crash
        temp.rename(path)

    def _claimable(self) -> list[Path]:
        """Spool files to claim now: unclaimed ones and claims their claimer abandoned."""
        now, files = time.time(), []
        for path in self.spooled_files():
            if ".claimed-" not in path.name:
                files.append(path)
                continue
            try:
                claimed_at = float(path.name.rsplit(".claimed-", 1)[1].split("-", 1)[0])
            except ValueError:
                claimed_at = 0.0
            if now - claimed_at > CLAIM_SECONDS:
                files.append(path)
        return files

    def _drain_spool(self) -> int:
        """Insert every claimable spool file of this table, each as one batch."""
        written = 0
        for path in self._claimable():
            stem = path.name.split(".claimed-")[0].removesuffix(".jsonl")
            claimed = path.with_name(f"{stem}.claimed-{time.time():.0f}-{self._id}")
            try:
                path.rename(claimed)  # atomic: one process gets each file
            except FileNotFoundError:
                continue  # another writer took it
            try:
                with claimed.open(encoding="utf-8") as f:
                    rows = [json.loads(line, object_hook=_decode) for line in f if line.strip()]
            except (OSError, ValueError):
                log.exception("buffered_spool_unreadable", table=self.table.name, file=stem)
                claimed.rename(claimed.with_name(f"{stem}{BAD_SUFFIX}"))
                continue
            try:
                count = self._write(rows)
            except _Away as away:
                if away.written:  # part went in: keep only the rest
                    self._spool(away.rows)
                    claimed.unlink()
                else:
                    claimed.rename(claimed.with_name(f"{stem}.jsonl"))
                self._retry_at = time.monotonic() + RETRY_SECONDS
                log.warning(
                    "buffered_spool_retry", table=self.table.name, error=str(away.__cause__)
                )
                return written + away.written
            claimed.unlink()
            written += count
            log.info("buffered_spool_written", table=self.table.name, rows=count)
        return written

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                # The thread must outlive any surprise (a full disk, a bug): rows keep
                # coming, and a dead writer would hold them in memory for ever.
                log.exception("buffered_write_failed", table=self.table.name)
                self._wake.wait(RETRY_SECONDS)

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=2)
        self._retry_at = self._look_at = 0.0  # one last try before the process ends
        self.flush()
