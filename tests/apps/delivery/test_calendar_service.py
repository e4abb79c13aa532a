"""``CalendarPart`` on a real database: uploads replace the calendar in one unit with one
event, the same file again changes nothing, a bad or huge file leaves the old calendar,
delete, status, and the calendars the model reads. Expected intervals are computed here
with ``datetime`` + ``zoneinfo``; the atomic tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import event, select

from foresight.apps.delivery import state, store
from foresight.apps.delivery.calendar_service import CalendarPart
from foresight.apps.delivery.calendars import CalendarLimits, parse_busy
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.tables import BusyRow, CalendarRow, CustomerRow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput, NotFound, PayloadTooLarge
from foresight.platform.event_units import Unit
from foresight.platform.events import DatabaseEventLog
from tests.apps.delivery.helpers import T0, Clock, migrated, new

NY = ZoneInfo("America/New_York")

# A weekly class (Tuesdays 18:00–19:30 New York, 8 times from 6 May 2025) and a one-off.
GOOD = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Test//calendar service//EN\r
BEGIN:VEVENT\r
UID:gym-weekly@test\r
SUMMARY:Gym\r
DTSTART;TZID=America/New_York:20250506T180000\r
DTEND;TZID=America/New_York:20250506T193000\r
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=8\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:dentist@test\r
SUMMARY:Dentist\r
DTSTART:20250604T140000Z\r
DTEND:20250604T153000Z\r
END:VEVENT\r
END:VCALENDAR\r
"""
# Another file: one all-day event on Thursday 5 June (New York midnight to midnight).
OTHER = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Test//calendar service//EN\r
BEGIN:VEVENT\r
UID:away@test\r
SUMMARY:Away\r
DTSTART;VALUE=DATE:20250605\r
DTEND;VALUE=DATE:20250606\r
END:VEVENT\r
END:VCALENDAR\r
"""


def epoch(when: datetime) -> int:
    return int(when.timestamp())


GYM_FIRST = datetime(2025, 5, 6, 18, tzinfo=NY)  # wall-clock arithmetic below: + weeks
GYM = [
    (epoch(GYM_FIRST + timedelta(weeks=k)), epoch(GYM_FIRST + timedelta(weeks=k, minutes=90)))
    for k in range(8)
]
DENTIST = (
    epoch(datetime(2025, 6, 4, 14, tzinfo=UTC)),
    epoch(datetime(2025, 6, 4, 15, 30, tzinfo=UTC)),
)
GOOD_BUSY = sorted([*GYM, DENTIST])
OTHER_BUSY = [(epoch(datetime(2025, 6, 5, tzinfo=NY)), epoch(datetime(2025, 6, 6, tzinfo=NY)))]


@dataclass
class Parts:
    customers: CustomerPart
    calendars: CalendarPart
    db: Database
    log: DatabaseEventLog


def make_parts(url: str) -> Parts:
    db = migrated(url)
    log, settings, clock = DatabaseEventLog(db), DeliverySettings(), Clock()
    return Parts(
        CustomerPart(db, log, settings, clock=clock),
        CalendarPart(db, log, settings, clock=clock),
        db,
        log,
    )


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    p = make_parts(f"sqlite:///{tmp_path / 'delivery.db'}")
    yield p
    p.db.dispose()


@pytest.fixture
def any_parts(db_url: str) -> Iterator[Parts]:
    p = make_parts(db_url)
    yield p
    p.db.dispose()


def busy_rows(db: Database, cid: str) -> list[tuple[int, int, bool]]:
    with db.session() as s:
        query = select(BusyRow).where(BusyRow.customer_id == cid).order_by(BusyRow.start_at)
        return [
            (int(r.start_at.timestamp()), int(r.end_at.timestamp()), r.all_day)
            for r in s.scalars(query)
        ]


def snapshot(p: Parts, cid: str) -> tuple[Any, ...]:
    """Everything a calendar write may touch: customer row, calendar row, busy, events."""
    with p.db.session() as s:
        rows = [
            [dict(r) for r in s.execute(select(table).where(table.c.customer_id == cid)).mappings()]
            for table in (CustomerRow.__table__, CalendarRow.__table__)
        ]
    return rows, busy_rows(p.db, cid), p.log.read()


def assert_fold_matches(p: Parts, cid: str, calendar_ref: dict[str, Any] | None) -> None:
    """The fold of the customer's events equals its projection row."""
    folded = state.fold(p.log.read_key(state.customer_key(cid)))
    assert folded is not None
    with p.db.session() as s:
        row = s.get(CustomerRow, cid)
        assert row is not None
        got = (row.version, row.state_version, row.updated_at, row.attempts)
    assert got == (folded.version, folded.state_version, folded.updated_at, len(folded.attempts))
    assert folded.calendar_ref == calendar_ref


def test_upload_replaces_busy_and_publishes_one_event(parts: Parts) -> None:
    parts.customers.create(new("c-1"))
    answer = parts.calendars.upload("c-1", GOOD, actor="ops")
    sha = hashlib.sha256(GOOD).hexdigest()
    with parts.db.session() as s:
        cal = s.get(CalendarRow, "c-1")
        customer = s.get(CustomerRow, "c-1")
        assert cal is not None and customer is not None
        now = cal.fetched_at
        assert now is not None and now > T0
        assert (cal.kind, cal.status, cal.sha256, cal.ics, cal.checked_at) == (
            "upload",
            "fresh",
            sha,
            GOOD,
            now,
        )
        assert (cal.instances, cal.floating_times, cal.error) == (9, False, None)
        assert cal.covers_from == now - timedelta(days=400)
        assert cal.covers_to == now + timedelta(days=60)
        assert (customer.version, customer.state_version, customer.updated_at) == (2, 2, now)
    assert answer == {
        "kind": "upload",
        "status": "fresh",
        "error": None,
        "checked_at": now.isoformat(),
        "fetched_at": now.isoformat(),
        "instances": 9,
        "floating_times": False,
        "warnings": [],
    }
    # The stored intervals are parse_busy's over the same window, and the hand-made ones.
    parsed = parse_busy(
        GOOD,
        tz=NY,
        start=now - timedelta(days=400),
        end=now + timedelta(days=60),
        limits=CalendarLimits(),
    )
    stored = busy_rows(parts.db, "c-1")
    assert stored == [
        (s, e, a) for (s, e), a in zip(parsed.busy.tolist(), parsed.all_day.tolist(), strict=True)
    ]
    assert stored == [(s, e, False) for s, e in GOOD_BUSY]
    events = parts.log.read_key(state.customer_key("c-1"))
    assert len(events) == 2 and events[1].type == state.PROFILE_UPDATED
    assert events[1].payload == {
        "customer_id": "c-1",
        "version": 2,
        "changes": {"calendar": {"kind": "upload", "sha256": sha}},
        "actor": "ops",
    }
    assert events[1].occurred_at == now
    assert_fold_matches(parts, "c-1", {"kind": "upload", "sha256": sha})

    # The same bytes again: no version, no event, the stored status unchanged.
    before = snapshot(parts, "c-1")
    again = parts.calendars.upload("c-1", GOOD)
    assert snapshot(parts, "c-1") == before
    assert again == {k: v for k, v in answer.items() if k != "warnings"}

    # A new file replaces every interval and makes version 3.
    other = parts.calendars.upload("c-1", OTHER)
    assert busy_rows(parts.db, "c-1") == [(s, e, True) for s, e in OTHER_BUSY]
    assert other["instances"] == 1 and other["fetched_at"] > answer["fetched_at"]
    other_sha = hashlib.sha256(OTHER).hexdigest()
    with parts.db.session() as s:
        cal = s.get(CalendarRow, "c-1")
        assert cal is not None and (cal.ics, cal.sha256) == (OTHER, other_sha)
    assert_fold_matches(parts, "c-1", {"kind": "upload", "sha256": other_sha})
    assert len(parts.log.read_key(state.customer_key("c-1"))) == 3


def test_status_lists_the_next_week(parts: Parts) -> None:
    parts.customers.create(new("c-1"))
    assert parts.calendars.status("c-1") == {"status": "none"}
    parts.calendars.upload("c-1", GOOD)
    got = parts.calendars.status("c-1")
    # Now is T0 + a few seconds: the gym on Tuesday 3 June and the dentist on 4 June are
    # in the next 7 days; the gym on 10 June (22:00 UTC) is past T0 + 7 days.
    iso = [datetime.fromtimestamp(t, UTC).isoformat() for t in (*GYM[4], *DENTIST)]
    assert got["busy_next_7_days"] == [[iso[0], iso[1], False], [iso[2], iso[3], False]]
    assert (got["status"], got["kind"], got["instances"]) == ("fresh", "upload", 9)
    assert "warnings" not in got


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"this is not a calendar", InvalidInput, "not an iCalendar file"),
        (b"BEGIN:VCALENDAR\r\n" + b"X" * (6 * 2**20), PayloadTooLarge, "calendar too large"),
    ],
    ids=["malformed", "6MB"],
)
def test_bad_file_after_good_changes_nothing(
    any_parts: Parts, data: bytes, error: type[Exception], message: str
) -> None:
    p = any_parts
    p.customers.create(new("c-1"))
    p.calendars.upload("c-1", GOOD)
    before = snapshot(p, "c-1")
    with pytest.raises(error, match=message) as caught:
        p.calendars.upload("c-1", data)
    assert caught.value.status == (422 if error is InvalidInput else 413)  # type: ignore[attr-defined]
    assert snapshot(p, "c-1") == before
    assert busy_rows(p.db, "c-1") == [(s, e, False) for s, e in GOOD_BUSY]


def test_failed_publish_rolls_the_calendar_back(any_parts: Parts, monkeypatch: Any) -> None:
    p = any_parts
    p.customers.create(new("c-1"))
    p.calendars.upload("c-1", GOOD)
    before = snapshot(p, "c-1")
    written: list[int] = []

    def broken(self: Unit, item: Any) -> Any:
        # The busy rows of the new file are already written in the unit at this point.
        written.append(len(self.session.scalars(select(BusyRow.id)).all()))
        raise RuntimeError("the log is away")

    monkeypatch.setattr(Unit, "publish", broken)
    with pytest.raises(RuntimeError, match="the log is away"):
        p.calendars.upload("c-1", OTHER)
    with pytest.raises(RuntimeError, match="the log is away"):
        p.calendars.delete("c-1")
    monkeypatch.undo()
    assert written == [len(OTHER_BUSY), 0]
    assert snapshot(p, "c-1") == before


def test_delete(parts: Parts) -> None:
    parts.customers.create(new("c-1"))
    parts.calendars.upload("c-1", GOOD)
    parts.calendars.delete("c-1", actor="ops")
    events = parts.log.read_key(state.customer_key("c-1"))
    assert len(events) == 3
    assert events[2].payload == {
        "customer_id": "c-1",
        "version": 3,
        "changes": {"calendar": None},
        "actor": "ops",
    }
    with parts.db.session() as s:
        assert s.scalars(select(CalendarRow)).all() == [] and s.scalars(select(BusyRow)).all() == []
    assert parts.calendars.status("c-1") == {"status": "none"}
    assert_fold_matches(parts, "c-1", None)
    parts.calendars.delete("c-1")  # nothing left to delete: no version, no event
    assert len(parts.log.read_key(state.customer_key("c-1"))) == 3
    cal = parts.calendars.calendar_of("c-1", now=T0)
    assert (cal.known, cal.status, cal.busy.shape) == (False, "none", (0, 2))


def test_unknown_or_deleted_customer_is_404(parts: Parts) -> None:
    parts.customers.create(new("c-91"))
    for call in (
        lambda: parts.calendars.upload("c-19", GOOD),
        lambda: parts.calendars.status("c-19"),
        lambda: parts.calendars.delete("c-19"),
    ):
        with pytest.raises(NotFound, match=r"no customer 'c-19'; did you mean 'c-91'"):
            call()
    parts.customers.delete("c-91")
    with pytest.raises(NotFound, match="was deleted on 2025-06-02"):
        parts.calendars.upload("c-91", GOOD)
    with parts.db.session() as s:
        assert s.scalars(select(CalendarRow)).all() == []


def add_feed(db: Database, cid: str, *, status: str, fetched: datetime | None) -> None:
    """A feed's rows as S4 will write them, with touching intervals out of order."""
    with db.session() as s:
        s.add(CustomerRow(customer_id=cid, **new(cid).profile("US"), **store.new_counters(T0)))
        s.add(CalendarRow(customer_id=cid, kind="feed", status=status, fetched_at=fetched))
        for a, b, day in ((7200, 9000, False), (0, 3600, False), (3600, 5400, True)):
            start, end = T0 + timedelta(seconds=a), T0 + timedelta(seconds=b)
            s.add(BusyRow(customer_id=cid, start_at=start, end_at=end, all_day=day))


def test_calendars_for_the_model(any_parts: Parts) -> None:
    parts = any_parts
    for cid in ("c-up", "c-none"):
        parts.customers.create(new(cid))
    parts.calendars.upload("c-up", GOOD)
    add_feed(parts.db, "f-recent", status="fresh", fetched=T0 - timedelta(hours=5))
    add_feed(parts.db, "f-old", status="fresh", fetched=T0 - timedelta(hours=7))
    add_feed(parts.db, "f-down", status="unavailable", fetched=T0 - timedelta(hours=1))
    ids = ["c-up", "c-none", "f-recent", "f-old", "f-down", "c-nobody"]
    statements: list[str] = []
    event.listen(parts.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    got = parts.calendars.calendars_for(ids, now=T0)
    assert len(statements) == 2  # one query for the calendars, one for every busy row
    assert sorted(got) == sorted(ids)
    known = {cid: (c.known, c.status) for cid, c in got.items()}
    assert known == {
        "c-up": (True, "fresh"),
        "c-none": (False, "none"),
        "f-recent": (True, "fresh"),
        "f-old": (False, "fresh"),  # past feed_stale_hours (6): passed through, not known
        "f-down": (False, "unavailable"),
        "c-nobody": (False, "none"),
    }
    up = got["c-up"]
    assert up.busy.dtype == np.int64 and up.all_day.dtype == bool
    assert up.busy.tolist() == [list(b) for b in GOOD_BUSY]
    assert up.all_day.tolist() == [False] * len(GOOD_BUSY)
    # Out-of-order, touching and overlapping rows come back sorted and merged.
    t0 = int(T0.timestamp())
    assert got["f-old"].busy.tolist() == [[t0, t0 + 5400], [t0 + 7200, t0 + 9000]]
    assert got["f-old"].all_day.tolist() == [True, False]
    one = parts.calendars.calendar_of("c-up", now=T0)
    assert one.known and np.array_equal(one.busy, up.busy)
    # Many ids: chunked IN lists, every id answered.
    many = [f"x-{i:04d}" for i in range(1200)] + ["c-up"]
    answered = parts.calendars.calendars_for(many, now=T0)
    assert len(answered) == len(many) and answered["c-up"].known
    assert not answered["x-0007"].known
