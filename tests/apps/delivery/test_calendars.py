"""calendars.parse_busy against .ics text as Google Calendar and Outlook export it.

Expected intervals are computed here with ``datetime`` + ``zoneinfo``, never with the
code under test, and the fixtures are literal text.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from foresight.apps.delivery.calendars import (
    CalendarLimits,
    ParsedCalendar,
    busy_between,
    parse_busy,
)
from foresight.platform.errors import InvalidInput, PayloadTooLarge

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo = NY) -> int:
    """Epoch seconds of a wall-clock time, computed independently of the module."""
    return int(datetime(y, mo, d, h, mi, tzinfo=tz).timestamp())


def wrap(*body: str, head: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Fixture//EN", *head.split()]
    text = "\r\n".join([*lines, *"".join(body).strip().splitlines(), "END:VCALENDAR"])
    return (text + "\r\n").encode()


def parse(data: bytes, start: date, end: date, tz: ZoneInfo = NY, **kw: int) -> ParsedCalendar:
    return parse_busy(
        data,
        tz=tz,
        start=datetime(start.year, start.month, start.day, tzinfo=UTC),
        end=datetime(end.year, end.month, end.day, tzinfo=UTC),
        limits=CalendarLimits(**kw),
    )


OUTLOOK_VTIMEZONE = """
BEGIN:VTIMEZONE
TZID:Eastern Standard Time
BEGIN:STANDARD
DTSTART:16011104T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010311T020000
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
END:DAYLIGHT
END:VTIMEZONE
"""

# Outlook: Windows zone name with its VTIMEZONE, a weekly class, one EXDATE, one moved
# instance (RECURRENCE-ID).
OUTLOOK_WEEKLY = (
    OUTLOOK_VTIMEZONE
    + """
BEGIN:VEVENT
UID:040000008200E00074C5B7101A82E008000000001
SUMMARY:Pottery class
DTSTART;TZID=Eastern Standard Time:20250303T083000
DTEND;TZID=Eastern Standard Time:20250303T093000
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250401T000000Z
EXDATE;TZID=Eastern Standard Time:20250317T083000
TRANSP:OPAQUE
END:VEVENT
BEGIN:VEVENT
UID:040000008200E00074C5B7101A82E008000000001
SUMMARY:Pottery class (moved)
RECURRENCE-ID;TZID=Eastern Standard Time:20250324T083000
DTSTART;TZID=Eastern Standard Time:20250325T170000
DTEND;TZID=Eastern Standard Time:20250325T180000
END:VEVENT
"""
)


def test_rrule_exdate_and_override_follow_the_series():
    parsed = parse(wrap(OUTLOOK_WEEKLY), date(2025, 3, 1), date(2025, 4, 15))
    expected = [
        [at(2025, 3, 3, 8, 30), at(2025, 3, 3, 9, 30)],
        [at(2025, 3, 10, 8, 30), at(2025, 3, 10, 9, 30)],
        # 17 March is an EXDATE; 24 March moved to Tuesday 25th at 17:00.
        [at(2025, 3, 25, 17), at(2025, 3, 25, 18)],
        [at(2025, 3, 31, 8, 30), at(2025, 3, 31, 9, 30)],
    ]
    assert parsed.busy.tolist() == expected
    assert parsed.busy.dtype == np.int64
    assert parsed.all_day.tolist() == [False] * 4
    assert parsed.instances == 4
    assert not parsed.floating_times and parsed.warnings == []


TZID_FORM = """
BEGIN:VEVENT
UID:tzid-1@example.com
DTSTART;TZID=America/New_York:20250602T190000
DTEND;TZID=America/New_York:20250602T203000
END:VEVENT
"""
# Google Calendar export: UTC times and the calendar's zone in X-WR-TIMEZONE.
GOOGLE_FORM = """
BEGIN:VEVENT
UID:7kq2vd0g9sn3@google.com
DTSTART:20250602T230000Z
DTEND:20250603T003000Z
END:VEVENT
"""
FLOATING_FORM = """
BEGIN:VEVENT
UID:floating-1@example.com
DTSTART:20250602T190000
DTEND:20250602T203000
END:VEVENT
"""


def test_tzid_google_utc_and_floating_forms_give_the_same_interval():
    expected = [[at(2025, 6, 2, 19), at(2025, 6, 2, 20, 30)]]
    window = (date(2025, 6, 1), date(2025, 6, 10))
    tzid = parse(wrap(TZID_FORM), *window, tz=BERLIN)
    google = parse(wrap(GOOGLE_FORM, head="X-WR-TIMEZONE:America/New_York"), *window, tz=BERLIN)
    floating = parse(wrap(FLOATING_FORM), *window, tz=NY)
    assert tzid.busy.tolist() == google.busy.tolist() == floating.busy.tolist() == expected
    assert not tzid.floating_times and not google.floating_times
    assert floating.floating_times
    assert "America/New_York" in floating.warnings[0] and "floating" in floating.warnings[0]


def test_floating_times_are_read_in_the_customers_zone():
    berlin = parse(wrap(FLOATING_FORM), date(2025, 6, 1), date(2025, 6, 10), tz=BERLIN)
    assert berlin.busy.tolist() == [
        [at(2025, 6, 2, 19, tz=BERLIN), at(2025, 6, 2, 20, 30, tz=BERLIN)]
    ]


def test_floating_times_follow_x_wr_timezone_when_the_file_names_one():
    parsed = parse(
        wrap(FLOATING_FORM, head="X-WR-TIMEZONE:America/New_York"),
        date(2025, 6, 1),
        date(2025, 6, 10),
        tz=BERLIN,
    )
    assert parsed.busy.tolist() == [[at(2025, 6, 2, 19), at(2025, 6, 2, 20, 30)]]
    assert parsed.floating_times and "X-WR-TIMEZONE America/New_York" in parsed.warnings[0]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America", "../../etc/passwd"])
def test_unknown_x_wr_timezone_is_ignored_with_a_warning(zone: str):
    data = wrap(GOOGLE_FORM, head=f"X-WR-TIMEZONE:{zone}")
    parsed = parse(data, date(2025, 6, 1), date(2025, 6, 10))
    # UTC times are absolute, so the interval is unchanged.
    assert parsed.busy.tolist() == [[at(2025, 6, 2, 19), at(2025, 6, 2, 20, 30)]]
    assert any(zone in w and "not a known zone" in w for w in parsed.warnings)


ALL_DAY = """
BEGIN:VEVENT
UID:vacation@google.com
DTSTART;VALUE=DATE:20250714
DTEND;VALUE=DATE:20250717
TRANSP:OPAQUE
END:VEVENT
BEGIN:VEVENT
UID:birthday@google.com
DTSTART;VALUE=DATE:20250720
DTEND;VALUE=DATE:20250721
RRULE:FREQ=YEARLY
TRANSP:TRANSPARENT
END:VEVENT
BEGIN:VEVENT
UID:dentist@google.com
DTSTART:20250718T140000Z
DTEND:20250718T150000Z
END:VEVENT
"""


def test_all_day_events_run_local_midnight_to_midnight_and_transparent_ones_are_free():
    parsed = parse(wrap(ALL_DAY), date(2025, 7, 1), date(2025, 8, 1))
    assert parsed.busy.tolist() == [
        [at(2025, 7, 14), at(2025, 7, 17)],
        [at(2025, 7, 18, 10), at(2025, 7, 18, 11)],
    ]
    assert parsed.all_day.tolist() == [True, False]
    assert parsed.instances == 2
    tokyo = ZoneInfo("Asia/Tokyo")
    in_tokyo = parse(wrap(ALL_DAY), date(2025, 7, 1), date(2025, 8, 1), tz=tokyo)
    assert in_tokyo.busy[0].tolist() == [at(2025, 7, 14, tz=tokyo), at(2025, 7, 17, tz=tokyo)]


CANCELLED = """
BEGIN:VEVENT
UID:gym@example.com
DTSTART;TZID=America/New_York:20250106T180000
DTEND;TZID=America/New_York:20250106T193000
RRULE:FREQ=WEEKLY;COUNT=3
END:VEVENT
BEGIN:VEVENT
UID:gym@example.com
RECURRENCE-ID;TZID=America/New_York:20250113T180000
DTSTART;TZID=America/New_York:20250113T180000
DTEND;TZID=America/New_York:20250113T193000
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:party@example.com
DTSTART;TZID=America/New_York:20250110T200000
DTEND;TZID=America/New_York:20250110T230000
STATUS:CANCELLED
END:VEVENT
"""


def test_cancelled_series_and_cancelled_instances_are_not_busy():
    parsed = parse(wrap(CANCELLED), date(2025, 1, 1), date(2025, 2, 1))
    assert parsed.busy.tolist() == [
        [at(2025, 1, 6, 18), at(2025, 1, 6, 19, 30)],
        [at(2025, 1, 20, 18), at(2025, 1, 20, 19, 30)],
    ]


# The same weekly 08:30 class, written the two ways the simulator exports.
DST_TZID = """
BEGIN:VEVENT
UID:class-tzid@example.com
DTSTART;TZID=America/New_York:20250224T083000
DTEND;TZID=America/New_York:20250224T100000
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20251231T235959Z
END:VEVENT
"""
DST_GOOGLE = """
BEGIN:VEVENT
UID:class-google@google.com
DTSTART:20250224T133000Z
DTEND:20250224T150000Z
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20251231T235959Z
END:VEVENT
"""


@pytest.mark.parametrize(
    ("body", "head"), [(DST_TZID, ""), (DST_GOOGLE, "X-WR-TIMEZONE:America/New_York")]
)
def test_weekly_class_stays_0830_local_across_both_dst_changes(body: str, head: str):
    for first, last in (
        (date(2025, 3, 3), date(2025, 3, 10)),
        (date(2025, 10, 27), date(2025, 11, 3)),
    ):
        parsed = parse(wrap(body, head=head), first - timedelta(days=1), last + timedelta(days=1))
        starts = parsed.busy[:, 0].tolist()
        assert starts == [
            at(first.year, first.month, first.day, 8, 30),
            at(last.year, last.month, last.day, 8, 30),
        ]
        local = [datetime.fromtimestamp(s, NY).strftime("%H:%M") for s in starts]
        assert local == ["08:30", "08:30"]
        # A week is 7 × 24 h of UTC minus (March) or plus (November) the shifted hour.
        gap = starts[1] - starts[0]
        assert gap == 7 * 86400 + (-3600 if first.month == 3 else 3600)


LONG_RUNNING = """
BEGIN:VEVENT
UID:choir@example.com
DTSTART;TZID=America/New_York:20150105T190000
DTEND;TZID=America/New_York:20150105T200000
RRULE:FREQ=WEEKLY;BYDAY=MO,WE
END:VEVENT
BEGIN:VEVENT
UID:book-club@example.com
DTSTART;TZID=America/New_York:20000111T180000
DTEND;TZID=America/New_York:20000111T190000
RRULE:FREQ=MONTHLY;BYDAY=2TU
END:VEVENT
BEGIN:VEVENT
UID:anniversary@example.com
DTSTART;VALUE=DATE:19500309
DTEND;VALUE=DATE:19500310
RRULE:FREQ=YEARLY
END:VEVENT
"""


def test_long_running_series_are_accepted_and_expanded():
    parsed = parse(wrap(LONG_RUNNING), date(2025, 1, 1), date(2025, 4, 1))
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(90)]
    choir = [d for d in days if d.weekday() in (0, 2)]
    second_tuesdays = [date(2025, 1, 14), date(2025, 2, 11), date(2025, 3, 11)]
    expected = sorted(
        [[at(d.year, d.month, d.day, 19), at(d.year, d.month, d.day, 20)] for d in choir]
        + [
            [at(d.year, d.month, d.day, 18), at(d.year, d.month, d.day, 19)]
            for d in second_tuesdays
        ]
        + [[at(2025, 3, 9), at(2025, 3, 10)]]
    )
    # 10 March is a Monday: the choir at 19:00 does not touch the all-day block.
    assert parsed.busy.tolist() == expected
    assert parsed.instances == len(choir) + 3 + 1
    assert parsed.warnings == []


def test_minutely_rule_without_until_is_refused_quickly_and_named():
    spam = """
BEGIN:VEVENT
UID:runaway-minutely@example.com
DTSTART:20240101T000000Z
DTEND:20240101T000030Z
RRULE:FREQ=MINUTELY
END:VEVENT
"""
    began = time.perf_counter()
    with pytest.raises(PayloadTooLarge, match=r"runaway-minutely@example\.com") as caught:
        parse(wrap(spam), date(2025, 1, 1), date(2025, 3, 1))
    assert time.perf_counter() - began < 2.0
    assert "50,000" in caught.value.message and caught.value.status == 413


def test_secondly_rule_with_large_count_is_refused():
    spam = """
BEGIN:VEVENT
UID:secondly@example.com
DTSTART:20250101T000000Z
RRULE:FREQ=SECONDLY;COUNT=10000000
END:VEVENT
"""
    with pytest.raises(PayloadTooLarge, match=r"secondly@example\.com"):
        parse(wrap(spam), date(2025, 1, 1), date(2025, 3, 1))


def test_too_many_instances_names_the_densest_series():
    body = """
BEGIN:VEVENT
UID:daily@example.com
DTSTART:20250101T080000Z
DTEND:20250101T081500Z
RRULE:FREQ=DAILY
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
DTSTART:20250106T120000Z
DTEND:20250106T130000Z
RRULE:FREQ=WEEKLY
END:VEVENT
BEGIN:VEVENT
UID:late-daily@example.com
DTSTART:20250120T180000Z
DTEND:20250120T181500Z
RRULE:FREQ=DAILY
END:VEVENT
"""
    # January holds 31 + 4 + 12 = 47 instances; each series alone stays under 40.
    with pytest.raises(PayloadTooLarge, match=r"densest is event daily@example\.com"):
        parse(wrap(body), date(2025, 1, 1), date(2025, 2, 1), max_instances=40)
    ok = parse(wrap(body), date(2025, 1, 1), date(2025, 2, 1), max_instances=100)
    assert ok.instances == 31 + 4 + 12  # Mondays 6, 13, 20, 27; 20–31 January


def test_total_recurrence_work_is_bounded_before_expanding():
    # Five daily series since 1 October 2024: ~124 instances each from DTSTART, under a
    # per-series cap of 150 but 620 in all, over the 4 × 150 budget.
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:daily-{i}\r\nDTSTART:20241001T0{i}0000Z\r\n"
        f"DTEND:20241001T0{i}3000Z\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n"
        for i in range(5)
    )
    with pytest.raises(PayloadTooLarge, match=r"recurring events expand to up to 6\d\d instances"):
        parse(wrap(body), date(2025, 1, 1), date(2025, 2, 1), max_instances=150)
    assert parse(wrap(body), date(2025, 1, 1), date(2025, 2, 1), max_instances=200).instances == 155


@pytest.mark.parametrize(
    "data",
    [
        b"hello world",
        b"",
        b"<html><body>Not found</body></html>",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n",
        bytes(range(256)),
    ],
)
def test_malformed_files_are_invalid_input(data: bytes):
    with pytest.raises(InvalidInput, match="not an iCalendar file") as caught:
        parse(data, date(2025, 1, 1), date(2025, 2, 1))
    assert caught.value.status == 422 and len(caught.value.message) < 260


def test_a_lone_vevent_is_not_a_calendar():
    lone = b"BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20250101T100000Z\r\nEND:VEVENT\r\n"
    with pytest.raises(InvalidInput, match="no VCALENDAR"):
        parse(lone, date(2025, 1, 1), date(2025, 2, 1))


def test_six_megabytes_is_too_large_before_parsing():
    data = b"X" * (6 * 2**20)  # not even iCalendar: the size check comes first
    with pytest.raises(PayloadTooLarge, match="6,291,456 bytes, at most 5,242,880"):
        parse(data, date(2025, 1, 1), date(2025, 2, 1))


def test_more_components_than_the_limit_is_too_large():
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:e{i}\r\nDTSTART:202501{i + 1:02d}T100000Z\r\nEND:VEVENT\r\n"
        for i in range(11)
    )
    with pytest.raises(PayloadTooLarge, match="11 events, at most 10"):
        parse(wrap(events), date(2025, 1, 1), date(2025, 2, 1), max_components=10)


def test_overlapping_and_touching_events_merge_and_keep_the_all_day_flag():
    body = """
BEGIN:VEVENT
UID:a
DTSTART;TZID=America/New_York:20250303T090000
DTEND;TZID=America/New_York:20250303T110000
END:VEVENT
BEGIN:VEVENT
UID:b
DTSTART;TZID=America/New_York:20250303T100000
DTEND;TZID=America/New_York:20250303T103000
END:VEVENT
BEGIN:VEVENT
UID:c
DTSTART;TZID=America/New_York:20250303T110000
DTEND;TZID=America/New_York:20250303T120000
END:VEVENT
BEGIN:VEVENT
UID:d
DTSTART;TZID=America/New_York:20250303T130000
DTEND;TZID=America/New_York:20250303T140000
END:VEVENT
BEGIN:VEVENT
UID:e
DTSTART;VALUE=DATE:20250305
DTEND;VALUE=DATE:20250306
END:VEVENT
BEGIN:VEVENT
UID:f
DTSTART;TZID=America/New_York:20250305T230000
DTEND;TZID=America/New_York:20250306T010000
END:VEVENT
"""
    parsed = parse(wrap(body), date(2025, 3, 1), date(2025, 3, 10))
    assert parsed.busy.tolist() == [
        [at(2025, 3, 3, 9), at(2025, 3, 3, 12)],
        [at(2025, 3, 3, 13), at(2025, 3, 3, 14)],
        [at(2025, 3, 5), at(2025, 3, 6, 1)],
    ]
    assert parsed.all_day.tolist() == [False, False, True]
    assert parsed.instances == 6


def test_intervals_are_clipped_to_the_window():
    body = """
BEGIN:VEVENT
UID:trip
DTSTART:20250130T000000Z
DTEND:20250203T000000Z
END:VEVENT
"""
    parsed = parse(wrap(body), date(2025, 2, 1), date(2025, 2, 2))
    assert parsed.busy.tolist() == [[at(2025, 2, 1, tz=UTC), at(2025, 2, 2, tz=UTC)]]


def test_bad_series_are_skipped_with_a_warning_naming_the_uid():
    body = """
BEGIN:VEVENT
UID:broken-rule@example.com
DTSTART:20250106T120000Z
DTEND:20250106T130000Z
RRULE:FREQ=FORTNIGHTLY
END:VEVENT
BEGIN:VEVENT
UID:broken-start@example.com
DTSTART:tomorrow-ish
END:VEVENT
BEGIN:VEVENT
UID:fine@example.com
DTSTART:20250107T120000Z
DTEND:20250107T130000Z
END:VEVENT
"""
    parsed = parse(wrap(body), date(2025, 1, 1), date(2025, 2, 1))
    assert parsed.busy.tolist() == [[at(2025, 1, 7, 12, tz=UTC), at(2025, 1, 7, 13, tz=UTC)]]
    joined = " ".join(parsed.warnings)
    assert "broken-rule@example.com" in joined and "broken-start@example.com" in joined


def test_empty_calendar_gives_empty_arrays():
    parsed = parse(wrap(""), date(2025, 1, 1), date(2025, 2, 1))
    assert parsed.busy.shape == (0, 2) and parsed.busy.dtype == np.int64
    assert parsed.all_day.shape == (0,) and parsed.instances == 0


def test_window_needs_aware_ordered_datetimes():
    with pytest.raises(InvalidInput, match="time zone"):
        parse_busy(wrap(""), tz=NY, start=datetime(2025, 1, 1), end=datetime(2025, 2, 1))
    with pytest.raises(InvalidInput, match="after start"):
        parse(wrap(""), date(2025, 2, 1), date(2025, 1, 1))


def test_busy_between_clips_to_a_sub_window():
    busy = np.array([[0, 10], [20, 30], [40, 50]], dtype=np.int64)
    assert busy_between(busy, 5, 45).tolist() == [[5, 10], [20, 30], [40, 45]]
    assert busy_between(busy, 10, 20).tolist() == []
    assert busy_between(busy, 25, 26).tolist() == [[25, 26]]
    assert busy_between(np.empty((0, 2), dtype=np.int64), 0, 5).shape == (0, 2)
    assert busy.tolist() == [[0, 10], [20, 30], [40, 50]]  # not modified
