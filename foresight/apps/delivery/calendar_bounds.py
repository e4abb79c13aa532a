"""Bounds on a calendar's recurrence work, checked before anything is expanded, and the
small helpers ``calendars`` shares with it.

Why bound first: ``dateutil`` generates a rule's instances from its DTSTART, so a
``FREQ=MINUTELY`` rule that began a year ago costs half a million steps before the window
even starts; counting while expanding would come too late. The bound is an upper limit
from FREQ, INTERVAL, COUNT, UNTIL and the BY* lists, so it refuses only rules that could
be that dense.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from foresight.platform.errors import PayloadTooLarge

MESSAGE_CLIP = 200
UID_CLIP = 80
# Total recurrence work (instances generated from every rule's DTSTART up to the window's
# end) allowed per calendar, as a multiple of max_instances. dateutil and the library
# cost ~20–60 µs an instance here, so 4 × 50,000 stays within a few seconds; a heavy real
# calendar (100 weekly series running since 2015, 60 monthly and yearly ones) needs ~120k.
_WORK_FACTOR = 4
# Sub-daily rules with BY* filters step through every period even when they yield little.
_STEP_FACTOR = 20
_DAY = 86400
# MONTHLY counts the shortest month: more periods, so the bound stays an upper bound.
_PERIOD_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": _DAY}
_PERIOD_SECONDS |= {"WEEKLY": 7 * _DAY, "MONTHLY": 28 * _DAY, "YEARLY": 365 * _DAY}
_FREQ_RANK = {name: rank for rank, name in enumerate(_PERIOD_SECONDS)}
_UTC = ZoneInfo("UTC")


def clip(text: object, limit: int = MESSAGE_CLIP) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def uid_of(component: icalendar.cal.Component) -> str:
    return clip(component.get("UID", "(no UID)"), UID_CLIP)


def listed(value: object) -> list:
    """A property that may repeat comes as one value or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def to_epoch(value: date | datetime, tz: ZoneInfo) -> tuple[int, bool]:
    """(UTC seconds, all_day) of an occurrence bound, reading DATE and floating in tz."""
    if not isinstance(value, datetime):
        return int(datetime.combine(value, time(0), tzinfo=tz).timestamp()), True
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return int(value.timestamp()), False


def _per_period(freq: str, rule: icalendar.vRecur) -> int:
    """Most instances one FREQ period can yield: BY* parts finer than FREQ multiply,
    coarser ones only filter (so they are ignored: this is an upper bound)."""
    count, rank = 1, _FREQ_RANK[freq]
    for key, unit in (("BYSECOND", "SECONDLY"), ("BYMINUTE", "MINUTELY"), ("BYHOUR", "HOURLY")):
        if rank > _FREQ_RANK[unit]:
            count *= len(rule.get(key, [])) or 1
    months = (len(rule.get("BYMONTH", [])) or 12) if freq == "YEARLY" else 1
    if freq == "WEEKLY":
        count *= min(len(rule.get("BYDAY", [])) or 1, 7)
    elif freq in ("MONTHLY", "YEARLY"):
        days = months if freq == "YEARLY" and "BYMONTH" in rule else 1
        if "BYYEARDAY" in rule or "BYWEEKNO" in rule:
            days = len(rule.get("BYYEARDAY", [])) + 7 * len(rule.get("BYWEEKNO", []))
        elif "BYMONTHDAY" in rule:
            days = len(rule["BYMONTHDAY"]) * months
        elif "BYDAY" in rule:
            # An ordinal ("2TU", "-1SU") is once a month, or once a year for YEARLY
            # without BYMONTH; a plain weekday is up to 5 times a month (53 a year).
            whole_year = freq == "YEARLY" and "BYMONTH" not in rule
            plain, spans = (53, 1) if whole_year else (5, months)
            days = spans * sum(1 if str(d)[:-2].strip("+-") else plain for d in rule["BYDAY"])
        count *= min(days, 366)
    if "BYSETPOS" in rule:
        count = min(count, len(rule["BYSETPOS"]))
    return count


def _series_bound(event: Any, end_s: int) -> tuple[int, int, str]:
    """(instances, steps, FREQ) a VEVENT can generate from its DTSTART up to end_s."""
    dtstart, _ = to_epoch(event["DTSTART"].dt, _UTC)  # rough is fine for a bound
    instances, steps, freqs = 1, 0, []
    for rdate_list in listed(event.get("RDATE")):
        instances += len(rdate_list.dts)
    for rule in listed(event.get("RRULE")):
        freq = str(rule["FREQ"][0]).upper()
        if freq not in _PERIOD_SECONDS:
            continue  # the library rejects it; that series is skipped with a warning
        freqs.append(freq)
        interval = max(int(rule.get("INTERVAL", [1])[0]), 1)
        stop = min(end_s, to_epoch(rule["UNTIL"][0], _UTC)[0]) if "UNTIL" in rule else end_s
        periods = max(0, (stop - dtstart) // (interval * _PERIOD_SECONDS[freq]) + 1)
        generated = periods * _per_period(freq, rule)
        if "COUNT" in rule:
            generated = min(generated, int(rule["COUNT"][0]))
        instances += generated
        steps += periods
    return instances, steps, ",".join(freqs)


def check_expansion(events: list, end: datetime, max_instances: int) -> None:
    """Refuse, before expanding, rules that could generate too many instances by end."""
    end_s = int(end.timestamp())
    total = 0
    for event in events:
        if "RRULE" not in event and "RDATE" not in event:
            continue
        instances, steps, freq = _series_bound(event, end_s)
        if instances > max_instances or steps > _STEP_FACTOR * max_instances:
            raise PayloadTooLarge(
                f"calendar too large: event {uid_of(event)} repeats {freq or 'by RDATE'} and "
                f"expands to up to {max(instances, steps):,} instances before "
                f"{end:%Y-%m-%d}, at most {max_instances:,}"
            )
        total += instances
    budget = _WORK_FACTOR * max_instances
    if total > budget:
        raise PayloadTooLarge(
            f"calendar too large: its recurring events expand to up to {total:,} "
            f"instances before {end:%Y-%m-%d}, at most {budget:,}"
        )
