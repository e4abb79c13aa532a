"""Kitchen ticket and delivery time answers: the mirror's rows for training, request
checks against the menu and the opening hours, the kitchen's load from the mirror, and
answers from the fallback chain, cached 30 minutes per the seed (and dropped with the
rest when a sync brings new rows: every cached answer carries the sync id)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from foresight.apps.restaurant import tickets
from foresight.apps.restaurant.features import local
from foresight.apps.restaurant.kitchen_model import (
    DELIVERY,
    KITCHEN,
    LEVEL,
    TimeTarget,
    TimeTrainingSpec,
)
from foresight.apps.restaurant.schemas_kitchen import BasketLine, DeliveryRequest, KitchenRequest
from foresight.apps.restaurant.tables import OrderLineRow, StationTimeRow
from foresight.apps.restaurant.tickets import Basket, Line, Load
from foresight.platform.errors import InvalidInput, NotFound, did_you_mean
from foresight.platform.serving import Served
from foresight.platform.training import Progress, TrainingOutcome, no_progress

if TYPE_CHECKING:
    from foresight.apps.restaurant.service import RestaurantService

STATION_DAYS = 28  # the seed's per-station/item figures: the last four weeks of the data
LOAD_FIELDS = tuple(Load.__dataclass_fields__)
REFERENCE_MONDAY = datetime(2001, 1, 1)  # a delivery names a weekday and an hour, no date
FIRST_YEAR, LAST_YEAR = 1900, 2200


@dataclass(frozen=True)
class History:
    """The mirror as the kitchen answers read it (local wall times), for one sync id."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    menu: dict[str, tuple[str, tuple[str, ...]]]  # item_id -> (category, sizes)
    stations: pd.DataFrame  # station_id, item_id, size, minutes (the last 28 days)


class KitchenPart:
    """The kitchen and delivery models' data, training and answers for one service."""

    def __init__(self, service: RestaurantService) -> None:
        self.service = service
        self._memo: tuple[int, History] | None = None

    # ---- data ------------------------------------------------------------------------------
    def history(self) -> History:
        """Orders, lines, menu and station times of the latest sync (kept per sync id)."""
        version = self.service.data_version()
        memo = self._memo
        if memo is not None and memo[0] == version:
            return memo[1]
        store, zone = self.service.store, self.service.settings.zone
        orders = store.orders()
        # Wall time for the hour and day features, but the later stamps keep their real
        # distance from the order, so a ticket across a DST change is not off by an hour.
        placed = orders["ordered_at"]
        orders["ordered_at"] = local(placed, zone)
        for column in ("ready_at", "delivered_at"):
            orders[column] = orders["ordered_at"] + (orders[column] - placed)
        menu: dict[str, tuple[str, tuple[str, ...]]] = {}
        for item_id, rows in store.menu().groupby("item_id", sort=True):
            sizes = tuple(s for s in rows["size"].astype(str) if s)
            menu[str(item_id)] = (str(rows["category"].iloc[0]), sizes)
        history = History(orders, store.lines(), menu, self._station_times())
        self._memo = (version, history)
        return history

    def _station_times(self) -> pd.DataFrame:
        """Minutes per station and order line over the last ``STATION_DAYS`` of data."""
        db = self.service.store.db
        with db.session() as s:
            last = s.scalar(select(func.max(StationTimeRow.finished_at)))
        columns = ["station_id", "item_id", "size", "minutes"]
        if last is None:
            return pd.DataFrame(columns=columns)
        since = pd.Timestamp(last) - pd.Timedelta(days=STATION_DAYS)
        query = (
            select(
                StationTimeRow.station_id,
                StationTimeRow.started_at,
                StationTimeRow.finished_at,
                OrderLineRow.item_id,
                OrderLineRow.size,
            )
            .join(OrderLineRow, OrderLineRow.line_id == StationTimeRow.line_id)
            .where(StationTimeRow.finished_at >= since.to_pydatetime())
        )
        frame = db.frame(query)
        delta = pd.to_datetime(frame["finished_at"], utc=True) - pd.to_datetime(
            frame["started_at"], utc=True
        )
        frame["minutes"] = delta.dt.total_seconds() / 60.0
        frame["size"] = frame["size"].fillna("").astype(str)
        return frame[columns]

    def kitchen_frame(self) -> pd.DataFrame:
        """One training row per order with a ready time (``tickets.kitchen_frame``)."""
        h = self.history()
        return tickets.kitchen_frame(h.orders, h.lines)

    def delivery_frame(self) -> pd.DataFrame:
        """One training row per delivered order (``tickets.delivery_frame``, categories)."""
        h = self.history()
        return tickets.delivery_frame(h.orders, h.lines)

    # ---- training --------------------------------------------------------------------------
    def train(self, time: TimeTarget, progress: Progress = no_progress) -> TrainingOutcome:
        """Train one of the two models on the mirror through the platform pipeline."""
        load = self.kitchen_frame if time.model_name == KITCHEN else self.delivery_frame
        p = self.service.p
        return p.pipeline.run(TimeTrainingSpec(time, load), p.training_context(progress))

    # ---- answers ---------------------------------------------------------------------------
    def ticket(self, req: KitchenRequest) -> dict[str, Any]:
        """Ticket minutes for a basket placed at ``ordered_at`` (default now)."""
        served = self.service.p.serve(KITCHEN)
        h = self.history()
        lines = self._basket(req.items, h, prefix="items.")
        at = self._moment(req.ordered_at, "ordered_at")
        given = {k: getattr(req, k) for k in LOAD_FIELDS}
        # Keyed on what was asked: the mirror's load at ``at`` is fixed by the sync id the
        # cache already checks, so a hit needs no pass over the mirror.
        key = _key("kitchen:q", [lines, at.isoformat(), given], served)

        def compute() -> dict[str, Any]:
            if all(v is not None for v in given.values()):
                load, source = Load(**given), "request"
            else:
                mirror = tickets.load_at(h.orders, h.lines, at).as_dict()
                load = Load(**{k: mirror[k] if v is None else v for k, v in given.items()})
                source = "mirror" if all(v is None for v in given.values()) else "request+mirror"
            out = self._answer(served, KITCHEN, _kitchen_row(served, h, lines, load, at))
            return {
                "ticket_minutes": out.pop("minutes"),
                **out,
                "ordered_at": at.isoformat(timespec="minutes"),
                "load": load.as_dict() | {"source": source},
            }

        return self.service.cached(key, self.service.settings.kitchen_ttl, compute)

    def item(
        self,
        item_id: str,
        size: str | None = None,
        station_id: str | None = None,
        ordered_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Per-station minutes of one item (the seed's ``kitchen:{station}:{item}``) and
        the ticket of one of it ordered at ``ordered_at`` (default: now, or the next
        opening when closed), at the mirror's load then."""
        served = self.service.p.serve(KITCHEN)
        h = self.history()
        (line,) = self._basket([BasketLine(item_id=item_id, size=size, quantity=1)], h, prefix="")
        # Stations are checked only when one is named: a hit must not scan the frame.
        known = [] if station_id is None else sorted(h.stations["station_id"].unique())
        if station_id is not None and station_id not in known:
            raise NotFound(
                f"unknown station_id {station_id!r}{did_you_mean(station_id, known)}; "
                f"stations: {', '.join(known) or 'none mirrored'}",
                details=[{"field": "station_id", "message": "unknown station"}],
            )
        at = self._moment(ordered_at, "ordered_at", next_open=ordered_at is None)
        key = _key(f"kitchen:{station_id or 'all'}:{item_id}:{line.size}", [at.isoformat()], served)

        def compute() -> dict[str, Any]:
            load = tickets.load_at(h.orders, h.lines, at)
            out = self._answer(served, KITCHEN, _kitchen_row(served, h, [line], load, at))
            return {
                "item_id": item_id,
                "size": line.size,
                "stations": _station_stats(h.stations, line, station_id),
                "ticket_minutes": out.pop("minutes"),
                **out,
                "ordered_at": at.isoformat(timespec="minutes"),
            }

        return self.service.cached(key, self.service.settings.kitchen_ttl, compute)

    def delivery(self, req: DeliveryRequest) -> dict[str, Any]:
        """Delivery minutes for an order at ``hour`` on ``day``, ``distance`` away."""
        served = self.service.p.serve(DELIVERY)
        h = self.history()
        self._check_weekly(req.day, req.hour)
        if req.items is not None and req.item_count is not None:
            raise _invalid("item_count", "give items or item_count, not both")
        if req.items is None and req.item_count is None:
            raise _invalid("items", "the basket is empty: give items or item_count")
        lines = None if req.items is None else self._basket(req.items, h, prefix="items.")
        key = _key("delivery:q", [req.hour, req.day, req.distance, lines, req.item_count], served)

        def compute() -> dict[str, Any]:
            basket = Basket(int(req.item_count or 0)) if lines is None else Basket.of(lines)
            words = _vocabulary(served, "n_cat_") or sorted({c for c, _ in h.menu.values()})
            row = tickets.delivery_row(req.hour, req.day, req.distance, basket, vocabulary=words)
            out = self._answer(served, DELIVERY, row)
            return {"delivery_minutes": out.pop("minutes"), **out}

        return self.service.cached(key, self.service.settings.kitchen_ttl, compute)

    def _answer(self, served: Served, name: str, row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = served.model.answer(row)
        p = self.service.p
        p.monitor.record_inputs(name, served.label, [row])
        p.metrics.child(p.metrics.predictions, name, served.label, served.fallback or "none").inc()
        return out | {
            "level": LEVEL,
            "method": served.model.method,
            "model_version": served.label,
            "fallback": served.fallback,
        }

    # ---- checks ----------------------------------------------------------------------------
    def _basket(self, items: Sequence[BasketLine], h: History, *, prefix: str) -> list[Line]:
        """The request's lines checked against the menu: a 404 for an unknown item (with
        a suggestion), a 422 for a size it does not come in."""
        lines = []
        for i, entry in enumerate(items):
            at = f"{prefix}{i}." if prefix else ""
            known = h.menu.get(entry.item_id)
            if known is None:
                raise NotFound(
                    f"unknown item {entry.item_id!r}{did_you_mean(entry.item_id, h.menu)} "
                    "(see /menu)",
                    details=[{"field": f"{at}item_id", "message": "unknown item"}],
                )
            category, sizes = known
            size = entry.size
            if size is None and len(sizes) == 1:
                size = sizes[0]
            if sizes and size not in sizes:
                said = "needs a size" if size is None else f"has no size {size!r}"
                raise _invalid(
                    f"{at}size", f"{entry.item_id} {said}; it comes in {', '.join(sizes)}"
                )
            if not sizes and size is not None:
                raise _invalid(f"{at}size", f"{entry.item_id} comes in one size only")
            lines.append(Line(entry.item_id, size, entry.quantity, category))
        return lines

    def _moment(self, value: datetime | None, field: str, *, next_open: bool = False) -> datetime:
        """A request's time as local wall time, refused when the restaurant is closed."""
        zone, opening = self.service.settings.zone, self.service.opening
        if value is None:
            now = self.service.p.clock().astimezone(zone).replace(tzinfo=None)
            value = now.replace(second=0, microsecond=0)
            if next_open:
                value = _next_open(opening, value)
        else:
            if not FIRST_YEAR <= value.year <= LAST_YEAR:  # pandas' nanosecond range, with room
                raise _invalid(field, f"{value.isoformat()} is out of range")
            if value.tzinfo is not None:
                value = value.astimezone(zone).replace(tzinfo=None)
        reason = opening.closed_reason(value)
        if reason is not None:
            raise _invalid(field, reason)
        return value

    def _check_weekly(self, day: str, hour: float) -> None:
        """A weekday and an hour against the weekly hours (a date's closure cannot apply)."""
        weekly = replace(self.service.opening, closed_dates=frozenset(), tz=None)
        at = REFERENCE_MONDAY + timedelta(days=tickets.DAYS.index(day), hours=hour)
        reason = weekly.closed_reason(at)
        if reason is not None:
            raise _invalid("hour", reason)


def _kitchen_row(
    served: Served, h: History, lines: list[Line], load: Load, at: datetime
) -> dict[str, Any]:
    """The kitchen row with exactly the served model's count columns (its vocabulary)."""
    categories = _vocabulary(served, "n_cat_") or tickets.vocabulary(h.lines, "category")
    sizes = _vocabulary(served, "n_size_") or tickets.vocabulary(h.lines, "size")
    return tickets.kitchen_row(Basket.of(lines), load, at, categories, sizes)


def _vocabulary(served: Served, prefix: str) -> tuple[str, ...]:
    signature = getattr(served.model, "signature", None)
    return () if signature is None else tickets.vocabulary_from_columns(signature.names, prefix)


def _station_stats(
    stations: pd.DataFrame, line: Line, station_id: str | None
) -> list[dict[str, Any]]:
    mine = stations[(stations["item_id"] == line.item_id) & (stations["size"] == (line.size or ""))]
    if station_id is not None:
        mine = mine[mine["station_id"] == station_id]
    out = []
    for sid, rows in mine.groupby("station_id", sort=True):
        p10, median, p90 = np.quantile(rows["minutes"].to_numpy(float), [0.1, 0.5, 0.9])
        out.append(
            {
                "station_id": str(sid),
                "median": round(float(median), 2),
                "p10": round(float(p10), 2),
                "p90": round(float(p90), 2),
                "lines": len(rows),
            }
        )
    return out


def _next_open(opening: Any, start: datetime, days: int = 8) -> datetime:
    """The first open minute at or after ``start`` (``start`` itself if none in a week)."""
    minutes = np.datetime64(start, "m") + np.arange(days * 24 * 60)
    open_ = opening.open_slots(minutes, minutes=1)
    if not open_.any():
        return start
    return pd.Timestamp(minutes[int(np.argmax(open_))]).to_pydatetime()


def _key(prefix: str, parts: list[Any], served: Served) -> str:
    """``prefix:{digest}:v{version}``: the digest of what the answer depends on."""
    text = json.dumps(parts, default=str, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    return f"{prefix}:{digest}:{served.cache_tag}"


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])
