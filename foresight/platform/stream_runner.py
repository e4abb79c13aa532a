"""Runs the apps' stream consumers: lease partitions, read, handle, commit, acknowledge.

One ``ConsumerRunner`` thread per (app consumer, process). Its loop:

1. every ``renew_seconds`` (and whenever it holds nothing) ``Leases.acquire``: its fair
   share of the partitions; for each newly taken one, ``Stream.reclaim`` (a dead
   consumer's unacknowledged entries) and the app's ``on_acquire``;
2. ``Stream.read`` past each held partition's checkpoint (blocking up to ``block_ms``);
3. per partition, one transaction: ``Leases.commit`` first (the fence), then the app's
   ``handle`` writes what it derives from the records; commit;
4. ``Stream.ack`` and the ``handle``'s after-commit callable.

A ``handle`` that raises commits nothing: the batch comes again after a back-off (its
partition's checkpoint did not move). ``LeaseLost`` drops the partition: another
process owns it now and reads it again from the last good checkpoint. So state
derived in ``handle`` is exactly once, whatever crashes (``tests/platform/test_stream_runner.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from foresight.platform.scheduler import default_owner
from foresight.platform.stream_leases import CheckpointMoved, Lease, LeaseLost, Leases
from foresight.platform.streams import Entry, Stream

if TYPE_CHECKING:
    from foresight.platform.apps import App, ConsumerSpec
    from foresight.platform.runtime import Platform

log = structlog.get_logger(__name__)

RENEW_SECONDS = 3.0  # leases last LEASE_SECONDS; renewed well before they lapse
LEASE_SECONDS = 10.0
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)  # after a failing batch, by consecutive failures


def group_of(app: App, spec: ConsumerSpec) -> str:
    """The consumer group of an app's consumer: ``<app>:<name>``."""
    return f"{app.name}:{spec.name}"


class ConsumerRunner:
    """One app consumer in this process (``start``/``stop``, or ``run_once`` in tests)."""

    def __init__(
        self,
        platform: Platform,
        app: App,
        spec: ConsumerSpec,
        *,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.platform, self.app, self.spec = platform, app, spec
        self.group = group_of(app, spec)
        self.owner = owner or default_owner()
        self.stream: Stream = platform.stream(spec.stream, spec.partitions)
        self.leases = Leases(
            platform.db,
            spec.stream,
            self.group,
            spec.partitions,
            lease_seconds=lease_seconds,
            clock=platform.clock,
        )
        self.renew_seconds = renew_seconds
        self.held: dict[int, Lease] = {}
        self.failures = 0
        self.handled = 0  # records committed by this runner (tests and logs)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._renewed = 0.0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name=f"consumer-{self.group}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the batch in hand and give the partitions back (only once the
        thread has ended: a batch still running keeps them until its lease lapses)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("stream.stop_timed_out", group=self.group)
                return
        try:
            self.leases.release(self.owner)
        except Exception:  # the database is away: the leases lapse on their own
            log.warning("stream.release_failed", group=self.group, owner=self.owner)
        self.held.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                # A database or Redis outage: log, wait, go on (leases lapse if it lasts).
                log.exception("stream.loop_failed", group=self.group)
                self._sleep(BACKOFF[-1])

    # -- one turn ------------------------------------------------------------------------
    def run_once(self) -> int:
        """Renew leases when due, read one batch and commit it; records committed."""
        now = time.monotonic()
        if not self.held or now - self._renewed >= self.renew_seconds:
            self._acquire()
            self._renewed = now
        if not self.held:
            self._sleep(min(1.0, self.renew_seconds))
            return 0
        after = {p: lease.position for p, lease in self.held.items()}
        entries = self.stream.read(
            self.group, self.owner, after, limit=self.spec.batch, block_ms=self.spec.block_ms
        )
        done = 0
        for part in sorted({e.partition for e in entries}):
            if part in self.held:
                done += self._commit(part, [e for e in entries if e.partition == part])
        return done

    def _acquire(self) -> None:
        leases = {lease.partition: lease for lease in self.leases.acquire(self.owner)}
        for part, lease in leases.items():
            previous = self.held.get(part)
            if previous is None or previous.epoch != lease.epoch:
                self.stream.reclaim(self.group, self.owner, part)
                if self.spec.on_acquire is not None:
                    self.spec.on_acquire(self.platform, part)
        self.held = leases

    def _commit(self, part: int, entries: list[Entry]) -> int:
        lease = self.held[part]
        entries = [e for e in entries if e.position > lease.position]
        if not entries:
            return 0
        last = entries[-1].position
        after: Callable[[], None] | None = None
        try:
            with self.platform.db.session() as session:
                self.leases.commit(session, lease, last)  # the fence: first statement
                after = self.spec.handle(self.platform, session, part, entries)
        except LeaseLost:
            log.warning("stream.lease_lost", group=self.group, partition=part)
            self.held.pop(part, None)
            return 0
        except CheckpointMoved as moved:
            # An earlier commit landed although its reply was lost: read on from there.
            self.held[part] = Lease(part, lease.owner, lease.epoch, moved.position)
            return 0
        except Exception:
            self.failures += 1
            log.exception("stream.handle_failed", group=self.group, partition=part)
            self._sleep(BACKOFF[min(self.failures, len(BACKOFF)) - 1])
            return 0
        self.failures = 0
        self.held[part] = Lease(part, lease.owner, lease.epoch, last)
        try:
            self.stream.ack(self.group, part, last)
        except Exception:  # bookkeeping only: the checkpoint is committed
            log.warning("stream.ack_failed", group=self.group, partition=part)
        if after is not None:
            try:
                after()
            except Exception:  # committed already: an online write can be redone later
                log.exception("stream.after_commit_failed", group=self.group, partition=part)
        count = sum(len(e.records) for e in entries)
        self.handled += count
        return count


class Consumers:
    """Every app consumer of a platform, run in this process."""

    def __init__(self, platform: Platform, **kw: Any) -> None:
        specs = platform.consumer_specs()
        self.runners = [ConsumerRunner(platform, app, spec, **kw) for app, spec in specs]

    def start(self) -> None:
        for runner in self.runners:
            runner.start()

    def stop(self, timeout: float = 5.0) -> None:
        for runner in self.runners:
            runner.stop(timeout)


def stream_health(platform: Platform) -> dict[str, dict[str, Any]]:
    """``stream:<group>`` for ``/health``: lag (records or entries past the checkpoints),
    live owners, and whether the stream's store is durable. Lag never marks it not ok:
    it is load, not failure."""
    out: dict[str, dict[str, Any]] = {}
    for app, spec in platform.consumer_specs():
        group = group_of(app, spec)
        stream = platform.stream(spec.stream, spec.partitions)
        leases = Leases(platform.db, spec.stream, group, spec.partitions, clock=platform.clock)
        lag = stream.lag(group, leases.positions())
        owners = {o for o in leases.owners().values() if o}
        out[f"stream:{group}"] = {
            "ok": True,
            "app": app.name,
            "lag": sum(lag.values()),
            "owners": len(owners),
            "durable": stream.durable,
        }
    return out


def trim_streams(platform: Platform, before: datetime) -> int:
    """Retention: delete each consumed stream's records stored before ``before`` and at
    or behind every consumer group's checkpoint (a record some group has not handled
    stays, however old). Returns how many entries went."""
    groups: dict[tuple[str, int], list[str]] = {}
    for app, spec in platform.consumer_specs():
        groups.setdefault((spec.stream, spec.partitions), []).append(group_of(app, spec))
    removed = 0
    for (name, partitions), names in groups.items():
        stream = platform.stream(name, partitions)
        checkpoints = [
            Leases(platform.db, name, g, partitions, clock=platform.clock).positions()
            for g in names
        ]
        for part in range(partitions):
            floor = min(c[part] for c in checkpoints)
            upto = min(floor, stream.position_before(part, before))
            if upto > (0, 0):
                removed += stream.trim(part, upto)
    return removed


def stream_lags(platform: Platform) -> dict[tuple[str, ...], float]:
    """``foresight_stream_lag`` at scrape time: per consumer group and partition, the
    entries past its checkpoint."""
    out: dict[tuple[str, ...], float] = {}
    for app, spec in platform.consumer_specs():
        group = group_of(app, spec)
        leases = Leases(platform.db, spec.stream, group, spec.partitions, clock=platform.clock)
        lag = platform.stream(spec.stream, spec.partitions).lag(group, leases.positions())
        out.update({(group, str(part)): float(n) for part, n in lag.items()})
    return out
