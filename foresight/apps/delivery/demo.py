"""Demo data: the delivery simulator (docs/delivery-simulator.md), run to end this week.

No public data set records when people are home, so the demo is the documented simulator
with its known truth: households of six archetypes, their attempts over the last
``demo_weeks`` weeks, and the exported calendars of the connected half.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from foresight.apps.delivery.service import DeliveryService
from foresight.apps.delivery.sim import SimConfig, SimResult, simulate
from foresight.platform.apps import ImportResult
from foresight.platform.training import Progress

ATTEMPT_COLUMNS = [
    "customer_id",
    "attempted_at",
    "window_start",
    "window_end",
    "delivered",
    "failure_reason",
]


def demo_config(households: int, weeks: int, seed: int, today: date) -> SimConfig:
    """The simulator run whose last week is this one (it starts on a Monday)."""
    first = today - timedelta(weeks=weeks)
    return SimConfig(
        households=households,
        weeks=weeks,
        seed=seed,
        start=first - timedelta(days=first.weekday()),
    )


def load_simulated(service: DeliveryService, progress: Progress) -> ImportResult:
    """Import the simulated customers, their attempts and calendars (``foresight demo``).

    Loading again adds nothing: customers are upserted, and each attempt is stored once
    (its content is its idempotency key).
    """
    s = service.settings
    config = demo_config(s.demo_households, s.demo_weeks, s.demo_seed, service.p.clock().date())
    progress("load", 0.0, f"simulating {config.households} households × {config.weeks} weeks")
    sim = simulate(config)
    buffer = io.StringIO()
    sim.customers.to_csv(buffer, index=False)
    service.import_customers(buffer.getvalue().encode(), actor="demo")
    progress("load", 0.3, f"{len(sim.customers)} customers imported")
    now = service.p.clock()
    attempts = sim.attempts[sim.attempts["attempted_at"] <= now][ATTEMPT_COLUMNS]
    added = service.add_attempts(attempts, source="demo")  # a rerun adds only what is missing
    progress("load", 0.7, f"{added} delivery attempts recorded")
    calendars = _upload_calendars(service, sim)
    message = (
        f"{len(sim.customers)} simulated customers, {added} attempts, {calendars} calendars "
        f"(simulator seed {config.seed}, {config.start} to {config.end})"
    )
    progress("load", 1.0, message)
    details: dict[str, Any] = {"calendars": calendars, "attempts": added}
    return ImportResult(rows=len(sim.customers), message=message, details=details)


def _upload_calendars(service: DeliveryService, sim: SimResult) -> int:
    connected = sim.households.customer_id[sim.households.calendar_connected]
    for customer_id in connected:
        # The same file again changes nothing (its digest is stored): reloading is safe.
        service.upload_calendar(str(customer_id), sim.calendars[customer_id], actor="demo")
    return len(connected)
