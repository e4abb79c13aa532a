"""Events in: parse a body once, validate every event, name each bad one by its index.

A body is one event object or an array of up to ``batch_max``. The whole array is
validated in one pass; only when that fails is each item validated alone, so a batch
with a few bad events costs one extra pass and every error says which event and which
field. Times are checked against the clock: no zone, too far ahead or too old is an
error of that event, not of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from foresight.apps.pricing.schemas import EVENT_TYPES, EventIn, Rejected
from foresight.platform.errors import InvalidInput

_ONE: TypeAdapter[Any] = TypeAdapter(EventIn)
_MANY: TypeAdapter[Any] = TypeAdapter(list[EventIn])


@dataclass
class Parsed:
    """The valid events with their index in the body, and the rejected ones."""

    valid: list[tuple[int, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _rejection(index: int, exc: ValidationError) -> Rejected:
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    # The discriminated union puts the type in the path ("booking", "price"): drop it.
    if loc and loc[0] in EVENT_TYPES:
        loc = loc[1:]
    name = ".".join(loc) or "event_type"
    message = first["msg"]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        name = "event_type"
        message = f"event_type must be one of: {', '.join(EVENT_TYPES)}"
    return Rejected(index=index, field=name, message=message)


def parse_events(
    body: bytes,
    *,
    now: datetime,
    batch_max: int = 1000,
    max_future: timedelta = timedelta(seconds=300),
    max_age: timedelta = timedelta(days=7),
) -> Parsed:
    """Validate a request body of events; raises ``InvalidInput`` (a 422) for a body
    that is not JSON, not an event or an array, or over ``batch_max``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc}", details={"field": "body"}
        ) from None
    items = data if isinstance(data, list) else [data]
    if not isinstance(data, list | dict):
        raise InvalidInput("send one event object or an array of them", details={"field": "body"})
    if len(items) > batch_max:
        raise InvalidInput(
            f"events: at most {batch_max:,} in one request, got {len(items):,}",
            details={"field": "events"},
        )
    out = Parsed()
    try:
        out.valid = list(enumerate(_MANY.validate_python(items)))
    except ValidationError:
        for i, item in enumerate(items):
            try:
                out.valid.append((i, _ONE.validate_python(item)))
            except ValidationError as exc:
                out.rejected.append(_rejection(i, exc))
    late, early = now - max_age, now + max_future
    kept = []
    for i, event in out.valid:
        if event.timestamp > early:
            ahead = int((event.timestamp - now).total_seconds())
            message = f"{ahead} s in the future; at most {int(max_future.total_seconds())} s"
            out.rejected.append(Rejected(index=i, field="timestamp", message=message))
        elif event.timestamp < late:
            message = f"older than {max_age.days} days; send recent events only"
            out.rejected.append(Rejected(index=i, field="timestamp", message=message))
        else:
            kept.append((i, event))
    out.valid = kept
    out.rejected.sort(key=lambda r: r.index)
    return out
