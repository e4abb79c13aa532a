"""Pure: event-time tumbling windows per region, with a watermark and allowed lateness.

One ``PartitionWindows`` holds the open windows of one stream partition (its regions
share a watermark). Records are applied one at a time, in stream order:

- the watermark is ``max(watermark, min(t, recorded + SKEW) − lateness)`` (event time,
  milliseconds): an event stamped in the future moves it no further than its arrival
  (plus a little clock skew), or one bad clock would close every region's windows;
- a record whose 1-minute window has already closed (its end ≤ the watermark) is
  *late-dropped*: counted per region and otherwise ignored; one inside the lateness is
  *late-accepted* when its window is not the newest the region has seen;
- otherwise it updates its 1- and 5-minute windows: searches, bookings and cancels are
  counted; a supply update keeps the latest snapshot (by event time, then position);
- windows whose end the watermark has passed close, oldest first, each carrying the
  region's supply forward when it saw no update of its own.

State changes only through ``apply``, which depends on nothing but the state and the
record, and the state round-trips through ``snapshot``/``restore`` (JSON). So however
the stream is cut into batches, and whatever is replayed after a crash from the last
committed snapshot, the closed windows are the same (``test_windows.py`` proves it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foresight.platform.errors import InvalidInput

SIZES_MS = (60_000, 300_000)  # 1- and 5-minute windows
SKEW_MS = 5_000  # how far ahead of its arrival an event's clock may run and still count
KINDS = ("search", "booking", "cancel", "supply_update", "external_signal")


@dataclass(frozen=True, slots=True)
class Event:
    """What the windows read of one record (times in epoch milliseconds)."""

    t: int
    region: str
    kind: str
    position: tuple[int, int] = (0, 0)
    available: int = 0  # supply_update only
    busy: int = 0
    recorded: int | None = None  # when the stream stored it: bounds a future timestamp


@dataclass(slots=True)
class Window:
    """One region's window ``[start, start + size)``: counts and the supply snapshot."""

    region: str
    size: int
    start: int
    searches: int = 0
    bookings: int = 0
    cancels: int = 0
    supply: tuple[int, int, int, int, int] | None = None  # (t, major, minor, available, busy)

    @property
    def end(self) -> int:
        return self.start + self.size

    def key(self) -> tuple[int, int, str]:
        return (self.end, self.size, self.region)

    def to_list(self) -> list[Any]:
        return [self.region, self.size, self.start, self.searches, self.bookings,
                self.cancels, list(self.supply) if self.supply else None]  # fmt: skip

    @classmethod
    def from_list(cls, v: list[Any]) -> Window:
        supply = tuple(v[6]) if v[6] is not None else None
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], supply)  # type: ignore[arg-type]


@dataclass
class PartitionWindows:
    """The open windows, watermark and late counts of one partition."""

    lateness_ms: int = 60_000
    watermark: int = -(2**62)
    open: dict[tuple[str, int, int], Window] = field(default_factory=dict)
    newest: dict[str, int] = field(default_factory=dict)  # region -> newest 1-min start
    carried: dict[str, list[int]] = field(default_factory=dict)  # region -> last supply
    late_accepted: dict[str, int] = field(default_factory=dict)
    late_dropped: dict[str, int] = field(default_factory=dict)

    def apply(self, e: Event) -> list[Window]:
        """Apply one record; the windows it closes, oldest first."""
        if e.kind not in KINDS:
            raise InvalidInput(f"unknown event kind {e.kind!r}; one of {', '.join(KINDS)}")
        t = e.t if e.recorded is None else min(e.t, e.recorded + SKEW_MS)
        self.watermark = max(self.watermark, t - self.lateness_ms)
        first = e.t - e.t % SIZES_MS[0]
        if first + SIZES_MS[0] <= self.watermark:
            self.late_dropped[e.region] = self.late_dropped.get(e.region, 0) + 1
            return self._close()
        if first < self.newest.get(e.region, first):
            self.late_accepted[e.region] = self.late_accepted.get(e.region, 0) + 1
        self.newest[e.region] = max(self.newest.get(e.region, first), first)
        for size in SIZES_MS:
            start = e.t - e.t % size
            w = self.open.get((e.region, size, start))
            if w is None:
                w = self.open[(e.region, size, start)] = Window(e.region, size, start)
            if e.kind == "search":
                w.searches += 1
            elif e.kind == "booking":
                w.bookings += 1
            elif e.kind == "cancel":
                w.cancels += 1
            elif e.kind == "supply_update":
                snap = (e.t, e.position[0], e.position[1], e.available, e.busy)
                if w.supply is None or snap[:3] > w.supply[:3]:
                    w.supply = snap
        return self._close()

    def _close(self) -> list[Window]:
        done = sorted((w for w in self.open.values() if w.end <= self.watermark), key=Window.key)
        for w in done:
            del self.open[(w.region, w.size, w.start)]
            if w.size == SIZES_MS[0]:
                if w.supply is not None:
                    self.carried[w.region] = list(w.supply)
                elif w.region in self.carried:
                    w.supply = tuple(self.carried[w.region])  # type: ignore[assignment]
        return done

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-ready values (stored with the partition's checkpoint)."""
        return {
            "lateness_ms": self.lateness_ms,
            "watermark": self.watermark,
            "open": [w.to_list() for w in sorted(self.open.values(), key=Window.key)],
            "newest": dict(sorted(self.newest.items())),
            "carried": dict(sorted(self.carried.items())),
            "late_accepted": dict(sorted(self.late_accepted.items())),
            "late_dropped": dict(sorted(self.late_dropped.items())),
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> PartitionWindows:
        windows = [Window.from_list(v) for v in data["open"]]
        return cls(
            lateness_ms=int(data["lateness_ms"]),
            watermark=int(data["watermark"]),
            open={(w.region, w.size, w.start): w for w in windows},
            newest={k: int(v) for k, v in data["newest"].items()},
            carried={k: list(v) for k, v in data["carried"].items()},
            late_accepted={k: int(v) for k, v in data["late_accepted"].items()},
            late_dropped={k: int(v) for k, v in data["late_dropped"].items()},
        )
