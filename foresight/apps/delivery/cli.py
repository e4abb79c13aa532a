"""``foresight delivery …``, ``foresight import delivery`` and ``foresight predict delivery``.

Every command talks to the app's service in this process (as the API does), so it sees
the same checks and messages; only ``simulate`` needs no platform at all.
"""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import typer
from rich.table import Table

from foresight.apps.delivery.batch import csv_chunks
from foresight.apps.delivery.batch_scoring import PAIR_COLUMNS, RESULT_COLUMNS, score_pairs
from foresight.apps.delivery.cli_predict import (
    body_of,
    predict_cli,
    service_of,
    when_text,
)
from foresight.apps.delivery.schemas import CustomerIn
from foresight.apps.delivery.schemas_customers import HOUSEHOLD_TYPES
from foresight.apps.delivery.sim import SimConfig, simulate
from foresight.platform.csvfile import count_lines, detect_encoding, read_csv, read_csv_header
from foresight.platform.terminal import console, fail, progress_bar, run_or_fail

cli = typer.Typer(
    help="Delivery: customers, their attempts and events, and whether they will be home.",
    no_args_is_help=True,
)
customers_cli = typer.Typer(help="List, show and create customers.", no_args_is_help=True)
cli.add_typer(customers_cli, name="customers")
cli.add_typer(predict_cli, name="predict")

# An Enum, so a typo is refused with the choices (and --help lists them).
Kind = Enum("Kind", {t: t for t in HOUSEHOLD_TYPES}, type=str)  # type: ignore[misc]


# ---- import and batch predict (also ``foresight import|predict delivery``) ---------------
def import_delivery(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Customers: customer_id, timezone, address_zone, optional household_type, "
        "display_name, lat, lon, country, subdivision, preferences (a JSON cell). "
        "Existing customers are updated; all rows or none.",
    ),
    attempts: Path | None = typer.Option(
        None,
        "--attempts",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Also record attempts: customer_id, attempted_at, window_start, window_end "
        "(ISO 8601 with an offset), delivered, failure_reason; every row is checked first, "
        "and a rerun skips the rows stored before.",
    ),
) -> None:
    """Import customers from FILE (and their delivery attempts with --attempts)."""
    service = service_of(ctx)
    result = run_or_fail(service.import_customers, file.read_bytes(), actor="cli")
    console.print(f"[green]✓[/] customers: {result.message}")
    if attempts is not None:
        frame = run_or_fail(read_csv, attempts, str(attempts))
        with console.status(f"recording {len(frame):,} attempts"):
            count = run_or_fail(service.add_attempts, frame, source="import")
        console.print(f"[green]✓[/] {count:,} attempts recorded from {attempts.name}")


def predict_delivery(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Pairs: customer_id, window_start, window_end (ISO 8601 with an offset).",
    ),
    out: Path = typer.Option(Path("predictions.csv"), help="Where to write the results."),
) -> None:
    """P(delivered) for every customer and window in FILE, scored in bulk as the API's
    batches are; bad rows (by file line) go to OUT.errors.csv."""
    encoding = run_or_fail(detect_encoding, file, str(file))
    header = run_or_fail(read_csv_header, file, encoding, str(file))
    missing = [c for c in PAIR_COLUMNS if c not in header]
    if missing:
        fail(f"{file}: missing column(s) {', '.join(missing)} (has: {', '.join(header)})")
    service = service_of(ctx)
    total = max(count_lines(file) - 1, 1)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    first = 2  # the header is line 1: rows are named by their line in the file
    with progress_bar() as bar:
        task = bar.add_task(f"scoring {file.name}", total=total)
        for chunk in csv_chunks(file, encoding):
            scored = run_or_fail(score_pairs, service, chunk, first)
            rows.extend(scored.results)
            errors.extend(scored.errors)
            first += len(chunk)
            bar.update(task, completed=min(first - 2, total))
    # Results only for rows that were scored, so a reader never mistakes a gap for 0.
    pd.DataFrame(rows, columns=list(RESULT_COLUMNS)).sort_values("row").to_csv(out, index=False)
    console.print(f"[green]✓[/] {len(rows)} windows scored → {out}")
    if errors:
        errors_file = out.with_name(out.stem + ".errors.csv")
        frame = pd.DataFrame(errors, columns=["row", "field", "message"]).sort_values("row")
        frame.assign(message=frame["field"] + ": " + frame["message"]).drop(columns="field").to_csv(
            errors_file, index=False
        )
        console.print(f"[yellow]{len(errors)} rows rejected[/]; reasons in {errors_file}")


cli.command("import")(import_delivery)


# ---- customers ---------------------------------------------------------------------------
@customers_cli.command("list")
def customers_list(
    ctx: typer.Context,
    zone: str | None = typer.Option(None, help="Only customers of this address zone."),
    household_type: Kind | None = typer.Option(None, "--type", help="Only this household type."),
    limit: int = typer.Option(50, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
) -> None:
    """Live customers by id."""
    found = run_or_fail(
        service_of(ctx).customers.list,
        zone=zone,
        household_type=household_type.value if household_type else None,
        limit=limit,
        offset=offset,
    )
    if not found:
        console.print("no customers" + (" match" if zone or household_type else " yet"))
        return
    table = Table("customer", "zone", "type", "time zone", "attempts", "version", "updated")
    for c in found:
        table.add_row(
            c.customer_id,
            c.address_zone,
            c.household_type,
            c.timezone,
            f"{c.attempts:,}",
            str(c.version),
            when_text(c.updated_at),
        )
    console.print(table)
    if len(found) == limit:
        console.print(f"[dim]first {limit} from offset {offset}; more with --offset[/]")


@customers_cli.command("show")
def customers_show(ctx: typer.Context, customer_id: str) -> None:
    """One customer's profile and preferences."""
    c = run_or_fail(service_of(ctx).customers.get, customer_id)
    table = Table("field", "value", title=f"customer {c.customer_id} (version {c.version})")
    fields = ("display_name", "timezone", "address_zone", "household_type", "country")
    for name in (*fields, "subdivision", "lat", "lon"):
        value = getattr(c, name)
        table.add_row(name, "" if value is None else str(value))
    table.add_row("attempts", f"{c.attempts:,}")
    table.add_row("created", when_text(c.created_at))
    table.add_row("updated", when_text(c.updated_at))
    for kind in ("preferred", "blocked"):
        windows = getattr(c.preferences, kind)
        text = "; ".join(f"{','.join(w.days)} {w.start}–{w.end}" for w in windows)
        table.add_row(kind, text or "none")
    console.print(table)


@customers_cli.command("create")
def customers_create(
    ctx: typer.Context,
    customer_id: str,
    timezone: str = typer.Option(..., help="IANA name, e.g. America/New_York."),
    zone: str = typer.Option(..., help="Address zone, e.g. Z01."),
    household_type: Kind = typer.Option("unknown", "--type", help="Household type."),
    name: str | None = typer.Option(None, help="Display name."),
    country: str | None = typer.Option(None, help="ISO code for holidays (default: setting)."),
    subdivision: str | None = typer.Option(None, help="e.g. NY (regional holidays)."),
    lat: float | None = typer.Option(None),
    lon: float | None = typer.Option(None),
    preferences: str | None = typer.Option(
        None,
        help='JSON: {"preferred": [{"days": ["mon"], "start": "18:00", "end": "21:00"}], '
        '"blocked": [...]}.',
    ),
) -> None:
    """Create a customer (an existing id is an error: it stays taken even when deleted)."""
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "timezone": timezone,
        "address_zone": zone,
        "household_type": household_type.value,
    }
    optional = {"display_name": name, "country": country, "subdivision": subdivision}
    values |= {k: v for k, v in {**optional, "lat": lat, "lon": lon}.items() if v is not None}
    if preferences is not None:
        try:
            values["preferences"] = json.loads(preferences)
        except ValueError as exc:
            fail(f"--preferences must be JSON ({exc}); see --help for an example")
    body = body_of(CustomerIn, values)
    created = run_or_fail(service_of(ctx).create_customer, body, actor="cli")
    console.print(f"[green]✓[/] customer {created.customer_id} created (version 1)")


# ---- history -----------------------------------------------------------------------------
@cli.command("attempts")
def attempts_command(
    ctx: typer.Context,
    customer_id: str,
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first."),
) -> None:
    """A customer's delivery attempts, newest first, in the customer's local time."""
    service = service_of(ctx)
    customer = run_or_fail(service.customers.get, customer_id)
    found = run_or_fail(service.customers.attempts, customer_id, limit=limit)
    if not found:
        console.print(f"customer {customer_id} has no attempts yet")
        return
    tz = ZoneInfo(customer.timezone)
    table = Table(
        "offset",
        "attempted",
        "window",
        "delivered",
        "reason",
        "source",
        title=f"{customer_id}: {len(found)} of {customer.attempts:,} attempts ({tz.key})",
    )
    for a in found:
        window = f"{when_text(a.window_start, tz)} → {a.window_end.astimezone(tz):%H:%M}"
        table.add_row(
            str(a.event_offset),
            when_text(a.attempted_at, tz),
            window,
            "[green]yes[/]" if a.delivered else "[red]no[/]",
            a.failure_reason or "",
            a.source,
        )
    console.print(table)


@cli.command("events")
def events_command(
    ctx: typer.Context,
    customer_id: str,
    since: int = typer.Option(0, min=0, help="Only events after this offset."),
    limit: int = typer.Option(100, min=1, max=1000),
    types: list[str] = typer.Option(
        [], "--type", help="Only this event type (repeatable), e.g. DeliveryAttempted."
    ),
) -> None:
    """A customer's events in the log, oldest first: the history every table is built from."""
    found = run_or_fail(
        service_of(ctx).events, customer_id, since=since, limit=limit, types=types or None
    )
    if not found:
        console.print(f"no events for {customer_id} after offset {since}")
        return
    table = Table("offset", "type", "when (UTC)", "payload")
    for e in found:
        payload = json.dumps(e.payload, default=str, separators=(",", ":"))
        table.add_row(str(e.offset), e.type, when_text(e.occurred_at), payload[:160])
    console.print(table)
    if len(found) == limit:
        console.print(f"[dim]more with --since {found[-1].offset}[/]")


@cli.command("rebuild")
def rebuild(
    ctx: typer.Context,
    customer_id: str | None = typer.Argument(None, help="One customer; default: every one."),
) -> None:
    """Rebuild the customer and attempt tables from the event log (the source of truth)."""
    service = service_of(ctx)
    with console.status("replaying the event log"):
        count = run_or_fail(service.customers.rebuild, customer_id)
    # Cached contexts were built from the old rows.
    service.predictions.forget(customer_id)
    if customer_id is not None and count == 0:
        fail(f"no events for customer {customer_id!r}; nothing to rebuild")
    console.print(f"[green]✓[/] {count:,} customer(s) rebuilt from the event log")


# ---- simulator ---------------------------------------------------------------------------
@cli.command("simulate")
def simulate_command(
    folder: Path = typer.Argument(..., file_okay=False, help="Folder to write the files to."),
    households: int = typer.Option(500, min=1, max=100_000),
    weeks: int = typer.Option(26, min=1, max=104),
    seed: int = typer.Option(SimConfig.seed, help="The same seed gives the same files."),
    start: str = typer.Option(
        SimConfig.start.isoformat(), help="First simulated day (YYYY-MM-DD, a Monday is usual)."
    ),
) -> None:
    """Write simulated households to FOLDER: customers.csv, attempts.csv, calendars/*.ics,
    households.csv (the hidden truth) and a README; the same seed gives the same bytes."""
    try:
        first = date.fromisoformat(start)
    except ValueError:
        fail(f"--start must be a date such as 2025-01-06, got {start!r}")
    config = SimConfig(households=households, weeks=weeks, seed=seed, start=first)
    with console.status(f"simulating {households:,} households × {weeks} weeks"):
        result = run_or_fail(simulate, config)
        try:
            result.write(folder)
        except OSError as exc:
            fail(f"cannot write to {folder}: {exc.strerror or exc}")
    attempts = result.attempts
    rate = float(attempts["delivered"].mean()) if len(attempts) else 0.0
    console.print(
        f"[green]✓[/] {len(result.customers):,} customers, {len(attempts):,} attempts "
        f"({rate:.0%} delivered), {len(result.calendars):,} calendars → {folder}"
    )
    files = f"{folder / 'customers.csv'} --attempts {folder / 'attempts.csv'}"
    console.print(f"load them: foresight import delivery {files}")
