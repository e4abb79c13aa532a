"""Outcomes: a delivery attempt judges the prediction made for its time.

A prediction is a ``PredictionRequested`` event of the customer; its offset is the
prediction id. The attempt (or a posted outcome) at time ``t`` matches the customer's
latest prediction made before ``t`` whose windows hold ``t`` (up to an hour after a
window's end, as an attempt may be logged late); the window's probability is what is
judged. Matched outcomes go to the platform's monitor, which tracks live accuracy; the
attempts themselves are what the next training reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from foresight.apps.delivery import state
from foresight.apps.delivery.checks import LATE_LOG
from foresight.apps.delivery.model import MODEL_NAME
from foresight.platform.errors import InvalidInput
from foresight.platform.events import Event, EventLog
from foresight.platform.monitor import Outcome

SEARCHED = 1000  # the customer's latest predictions looked through for a match
_YES = {"1", "true", "yes", "delivered", "home"}
_NO = {"0", "false", "no", "failed", "not_delivered", "not_home", "no_answer"}


@dataclass(frozen=True)
class Match:
    """The prediction an outcome judges: its event and the probability of its window."""

    event: Event
    probability: float

    @property
    def request_id(self) -> str:
        return str(self.event.payload.get("request_id"))


def observed_value(value: Any) -> float:
    """1.0 for delivered, 0.0 for not; an InvalidInput names what is accepted."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and value in (0, 1):
        return float(value)
    text = str(value).strip().lower()
    if text in _YES:
        return 1.0
    if text in _NO:
        return 0.0
    raise InvalidInput(
        f"observed must say whether the delivery was made: true/false, 1/0, "
        f"'delivered'/'failed'; got {str(value)[:40]!r}"
    )


def _window_p(event: Event, at: datetime) -> float | None:
    """The probability of the window holding ``at``: one that contains it first (an
    optimal-time answer's windows touch), else one it follows by at most ``LATE_LOG``."""
    windows = [
        (datetime.fromisoformat(s), datetime.fromisoformat(e), float(p))
        for s, e, p in event.payload.get("windows") or []
    ]
    for late in (timedelta(0), LATE_LOG):
        for begin, finish, p in windows:
            if begin <= at <= finish + late and (late or at < finish):
                return p
    return None


def find(log: EventLog, customer_id: str, at: datetime) -> Match | None:
    """The customer's latest prediction made before ``at`` whose windows hold ``at``."""
    events = log.read_key(
        state.customer_key(customer_id),
        types=[state.PREDICTION_REQUESTED],
        newest_first=True,
        limit=SEARCHED,
    )
    for event in events:
        if event.occurred_at > at:
            continue
        p = _window_p(event, at)
        if p is not None:
            return Match(event, p)
    return None


def by_id(log: EventLog, prediction_id: int, at: datetime) -> Match:
    """The prediction with this id (an event offset); an InvalidInput if there is none,
    or none of its windows holds ``at``."""
    found = log.read(since=prediction_id - 1, limit=1, types=[state.PREDICTION_REQUESTED])
    if not found or found[0].offset != prediction_id:
        raise InvalidInput(f"no delivery prediction with id {prediction_id}")
    p = _window_p(found[0], at)
    if p is None:
        raise InvalidInput(
            f"prediction {prediction_id} has no window holding {at.isoformat()} "
            "(observed_at must lie in a predicted window, or up to an hour after its end)"
        )
    return Match(found[0], p)


def outcome(match: Match, observed: float, at: datetime) -> Outcome:
    """The monitor's record of ``match`` judged by ``observed`` at ``at``."""
    payload = match.event.payload
    return Outcome(
        model_name=MODEL_NAME,
        model_version=payload.get("model_version"),
        predicted=match.probability,
        observed=observed,
        observed_at=at,
        entity=payload.get("customer_id"),
        prediction_id=match.event.offset,
    )
