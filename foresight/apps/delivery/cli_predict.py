"""``foresight delivery predict …``: one question to the availability model from the
terminal, and the helpers every delivery command uses to build and check a request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, ValidationError

from foresight.apps.delivery.schemas_predict import AvailabilityRequest, OptimalTimeRequest
from foresight.apps.delivery.service import DeliveryService
from foresight.platform.terminal import console, fail, platform_of, run_or_fail

predict_cli = typer.Typer(
    help="Ask the availability model: one window, or the best windows of a day.",
    no_args_is_help=True,
)


def service_of(ctx: typer.Context) -> DeliveryService:
    return platform_of(ctx).service_of(DeliveryService)  # type: ignore[no-any-return]


def problems(exc: ValidationError) -> str:
    """A pydantic error as one line per field, in the bodies' own words."""
    lines = []
    for raw in exc.errors():
        field = ".".join(str(p) for p in raw["loc"]) or "input"
        ctx = raw.get("ctx") or {}
        # A validator's ValueError carries our message; pydantic prefixes it otherwise.
        text = str(ctx["error"]) if raw["type"] == "value_error" and "error" in ctx else raw["msg"]
        lines.append(f"{field}: {text}")
    return "; ".join(lines)


def body_of(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """``values`` checked as the API checks a JSON body (the same strict fields), or the
    command fails with one line per field."""
    try:
        return cls.model_validate_json(json.dumps(values, default=str))
    except ValidationError as exc:
        fail(problems(exc))


def when_text(value: datetime, tz: ZoneInfo | None = None) -> str:
    local = value.astimezone(tz) if tz is not None else value
    return local.strftime("%Y-%m-%d %H:%M %Z").strip()


# ---- predict -----------------------------------------------------------------------------
@predict_cli.command("availability")
def predict_availability(
    ctx: typer.Context,
    customer_id: str,
    start: str = typer.Argument(..., help="Window start with offset, e.g. 2025-06-03T14:00-04:00"),
    end: str = typer.Argument(..., help="Window end with offset, e.g. 2025-06-03T16:00-04:00"),
    top: int = typer.Option(3, min=1, max=10, help="How many factors to name."),
) -> None:
    """Will the customer be home to receive a delivery between START and END?"""
    body = body_of(
        AvailabilityRequest,
        {"customer_id": customer_id, "window_start": start, "window_end": end, "top": top},
    )
    a = run_or_fail(service_of(ctx).availability, body, actor="cli")
    local = a["window_local"]
    console.print(
        f"[bold]{customer_id}[/] {local['start'][:16].replace('T', ' ')} → "
        f"{local['end'][11:16]} ({local['timezone']})"
    )
    fallback = f", fallback {a['fallback']}" if a["fallback"] else ""
    near = a["evidence"]["attempts_near_this_time"]
    console.print(
        f"P(delivered) [bold]{a['probability']:.1%}[/] · confidence {a['confidence']} "
        f"({a['evidence']['attempts']} attempts, {near:g} near this time)\n"
        f"basis {a['basis']} · model {a['model_version']}{fallback}"
    )
    if a["holiday"]:
        console.print(f"holiday: {a['holiday']}")
    for f in a["factors"]:
        colour = "green" if f["effect"] > 0 else "red" if f["effect"] < 0 else "dim"
        console.print(f"  [{colour}]{f['effect']:+.3f}[/]  {f['text']}")
    for warning in a["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


@predict_cli.command("optimal-time")
def predict_optimal_time(
    ctx: typer.Context,
    customer_id: str,
    day: str = typer.Argument(..., help="Local date, e.g. 2025-06-03 (the first, with --to)."),
    to: str | None = typer.Option(None, "--to", help="Last local date of a range (≤ 14 days)."),
    minutes: int = typer.Option(30, help="Window length: 15 to 720, a multiple of 15."),
    top: int = typer.Option(3, min=1, max=20, help="How many windows to show."),
    earliest: str | None = typer.Option(
        None, help="First local start time (HH:MM); default: the business start, 08:00."
    ),
    latest: str | None = typer.Option(
        None, help="Local time the last window ends by (24:00 ok); default: 21:00."
    ),
    allow_conflicts: bool = typer.Option(False, help="Offer windows the calendar shows busy."),
) -> None:
    """The best windows to deliver to CUSTOMER_ID on DAY (or DAY to --to), best first."""
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "window_minutes": minutes,
        "top_k": top,
        "earliest": earliest,
        "latest": latest,
        "allow_conflicts": allow_conflicts,
    }
    values |= {"date_from": day, "date_to": to} if to else {"date": day}
    body = body_of(OptimalTimeRequest, values)
    a = run_or_fail(service_of(ctx).optimal_time, body, actor="cli")
    tz = ZoneInfo(a["timezone"])
    fallback = f", fallback {a['fallback']}" if a["fallback"] else ""
    console.print(
        f"[bold]{customer_id}[/] ({a['timezone']}): {a['considered']} windows of {minutes} min "
        f"scored · basis {a['basis']} · model {a['model_version']}{fallback}"
    )
    for w in a["windows"]:
        marks = " preferred" if w["preferred"] else ""
        marks += " [yellow]busy[/]" if w["busy"] else ""
        console.print(
            f"  {w['rank']:>2}. {when_text(w['start'], tz)} → {w['end'].astimezone(tz):%H:%M}  "
            f"[bold]{w['probability']:.1%}[/]{marks}"
        )
    left_out = ", ".join(f"{n} {why}" for why, n in a["excluded"].items() if n)
    if left_out:
        console.print(f"left out: {left_out}")
    for day_text, name in a["holidays"].items():
        console.print(f"holiday: {day_text} {name}")
    for warning in a["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
