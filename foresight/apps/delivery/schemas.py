"""Settings (``FORESIGHT_DELIVERY_*``), and the readers of customer CSV files and attempt
frames, which check every row before anything is written. The bodies are in
``schemas_customers`` (re-exported here).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from foresight.apps.delivery.checks import (
    CUSTOMER_ID,
    EARLIEST,
    HH_MM,
    LATE_LOG,
    LATEST,
    MAX_WINDOW_HOURS,
    MIN_WINDOW_MINUTES,
    offset_message,
)
from foresight.apps.delivery.schemas_customers import (
    FAILURE_REASONS,
    Attempt,
    AttemptIn,
    Customer,
    CustomerIn,
    CustomerPatch,
    CustomerSummary,
    EventOut,
    ImportResponse,
    Preferences,
    WeeklyWindow,
)
from foresight.apps.delivery.state import attempt_payload
from foresight.platform.apps import AppSettings
from foresight.platform.errors import InvalidInput, PayloadTooLarge

__all__ = [
    "Attempt",
    "AttemptIn",
    "Customer",
    "CustomerIn",
    "CustomerPatch",
    "CustomerSummary",
    "DeliverySettings",
    "EventOut",
    "ImportResponse",
    "Preferences",
    "WeeklyWindow",
    "attempt_frame_rows",
    "customer_csv_rows",
]
Flag = Callable[[np.ndarray, str, str], None]  # (row mask, field, message): record bad cells


class DeliverySettings(AppSettings):
    """``FORESIGHT_DELIVERY_*``. The first ``*_schedule`` is the model's."""

    model_config = SettingsConfigDict(env_prefix="FORESIGHT_DELIVERY_", extra="ignore")

    train_schedule: str = Field("daily 03:15", description="Retrain the availability model.")
    calendar_refresh_schedule: str = Field("every 30m", description="Refresh calendar feeds.")
    weather_refresh_schedule: str = Field("every 30m", description="Pre-fetch the weather.")
    country: str = Field(
        "US", pattern=r"^[A-Z]{2}$", description="Holidays for customers naming none."
    )
    subdivision: str | None = Field(None, max_length=10)
    business_start: str = Field("08:00", description="First window of optimal-time (HH:MM).")
    business_end: str = Field("21:00", description="End of the last window (HH:MM or 24:00).")
    min_notice_minutes: int = Field(
        60, ge=0, description="optimal-time offers no window starting sooner than this."
    )
    min_window_minutes: int = Field(MIN_WINDOW_MINUTES, ge=1)
    max_window_hours: int = Field(MAX_WINDOW_HOURS, ge=1, le=24 * 7)
    preferred_bonus: float = Field(
        0.05, ge=0, le=1, description="optimal-time ranks a preferred window as if this likelier."
    )
    history_max_attempts: int = Field(500, ge=1)
    history_days: int = Field(400, ge=1)
    decay_half_life_days: float = Field(120.0, gt=0)
    hour_kernel_sigma: float = Field(1.0, gt=0)
    shrink: float = Field(2.0, ge=0)
    calendar_max_bytes: int = Field(5 * 2**20, ge=1024)
    calendar_max_components: int = Field(20_000, ge=1)
    calendar_max_instances: int = Field(50_000, ge=1)
    calendar_past_days: int = Field(400, ge=0)
    calendar_horizon_days: int = Field(60, ge=1)
    feed_ttl_minutes: int = Field(60, ge=1)
    feed_stale_hours: float = Field(6.0, gt=0)
    feed_timeout_s: float = Field(5.0, gt=0)
    feed_connect_timeout_s: float = Field(3.0, gt=0)
    feed_attempts: int = Field(3, ge=1)
    feed_deadline_s: float = Field(10.0, gt=0)
    feed_allow_private: bool = Field(False, description="Allow feeds on private addresses.")
    breaker_failures: int = Field(5, ge=1)
    breaker_reset_seconds: float = Field(300.0, gt=0)
    weather_url: str | None = Field(
        None, description="Open-Meteo-compatible base URL; unset: climatology only."
    )
    weather_ttl: float = Field(3600.0, ge=0)
    weather_timeout_s: float = Field(2.0, gt=0)
    default_lat: float = Field(40.71, ge=-90, le=90)
    default_lon: float = Field(-74.01, ge=-180, le=180)
    zone_locations: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='Zone -> (lat, lon), as JSON: {"Z01": [40.7, -74.0]}.'
    )
    state_ttl: float = Field(300.0, ge=0, description="Seconds a customer's context is cached.")
    answer_ttl: float = Field(300.0, ge=0)
    cache_enabled: bool = Field(True, description="Benchmarks measure uncached with false.")
    min_train_attempts: int = Field(500, ge=1)
    min_per_class: int = Field(50, ge=1)
    batch_max_pairs: int = Field(1_000_000, ge=1)
    demo_households: int = Field(500, ge=1)
    demo_weeks: int = Field(26, ge=1)
    demo_seed: int = Field(7)

    @field_validator("business_start")
    @classmethod
    def _start(cls, value: str) -> str:
        if not HH_MM.match(value):
            raise ValueError(f"FORESIGHT_DELIVERY_BUSINESS_START: {value!r} is not HH:MM")
        return value

    @field_validator("business_end")
    @classmethod
    def _end(cls, value: str) -> str:
        if value != "24:00" and not HH_MM.match(value):
            raise ValueError(f"FORESIGHT_DELIVERY_BUSINESS_END: {value!r} is not HH:MM or 24:00")
        return value

    @model_validator(mode="after")
    def _hours(self) -> DeliverySettings:
        # Refused at start-up: otherwise every request without its own hours would be
        # refused, naming a field the caller never sent.
        if self.business_end != "24:00" and self.business_end <= self.business_start:
            raise ValueError(
                f"FORESIGHT_DELIVERY_BUSINESS_END ({self.business_end}) must be after "
                f"FORESIGHT_DELIVERY_BUSINESS_START ({self.business_start}); 24:00 is midnight"
            )
        return self


# ---- files and frames: every row checked before anything is written ------------------------
MAX_IMPORT_ROWS = 100_000
MAX_ROW_ERRORS = 50
ATTEMPT_REQUIRED = (
    "customer_id",
    "attempted_at",
    "window_start",
    "window_end",
    "delivered",
    "failure_reason",
)
ATTEMPT_OPTIONAL = ("request_id", "precip_mm", "temp_c", "weather_source")
_OFFSET_AT_END = r"(?:Z|z|[+-]\d\d(?::?\d\d)?)$"
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _row_errors(count: int, errors: list[dict[str, Any]], what: str, done: str) -> InvalidInput:
    errors.sort(key=lambda e: e["row"])
    first = errors[0]
    return InvalidInput(
        f"{count} problems in {what}; nothing was {done} (first: row {first['row']}, "
        f"{first['field']}: {first['message']})",
        details=errors[:MAX_ROW_ERRORS],
    )


def _message(raw: Mapping[str, Any]) -> str:
    """A pydantic error in our own words (a validator's message without its prefix)."""
    ctx = raw.get("ctx") or {}
    return str(ctx["error"]) if raw.get("type") == "value_error" and "error" in ctx else raw["msg"]


def customer_csv_rows(data: bytes) -> tuple[list[tuple[int, CustomerIn]], set[str]]:
    """The rows of a customer CSV as ``(line, CustomerIn)`` (the header is line 1), and
    the profile fields its columns name. Any bad row makes it an ``InvalidInput`` that
    lists the first 50 problems by row and field. ``preferences`` is a JSON cell."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # what Excel writes on Western systems
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InvalidInput(
            "the CSV file is empty; send a header and one row per customer"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInput(f"the CSV file cannot be parsed: {str(exc).strip()[:200]}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    known = list(CustomerIn.model_fields)
    unknown = [c for c in frame.columns if c not in known]
    if unknown or "customer_id" not in frame.columns:
        raise InvalidInput(
            f"the CSV columns must be among {known} and include customer_id; "
            f"unknown: {unknown[:10]}"
        )
    if frame.empty:
        raise InvalidInput("the CSV file has a header but no rows")
    if len(frame) > MAX_IMPORT_ROWS:
        raise PayloadTooLarge(f"at most {MAX_IMPORT_ROWS:,} customers per import; split the file")
    rows: list[tuple[int, CustomerIn]] = []
    errors: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for i, record in enumerate(frame.to_dict("records")):
        line = i + 2
        values: dict[str, Any] = {str(k): v.strip() for k, v in record.items() if v.strip()}
        if "preferences" in values:
            try:
                values["preferences"] = json.loads(values["preferences"])
            except ValueError:
                message = 'must be JSON such as {"preferred": [{"days": ["mon"], ...}]}'
                errors.append({"row": line, "field": "preferences", "message": message})
                continue
        try:
            body = CustomerIn.model_validate(values)
        except ValidationError as exc:
            for raw in exc.errors():
                field = ".".join(str(p) for p in raw["loc"]) or "row"
                errors.append({"row": line, "field": field, "message": _message(raw)})
            continue
        if body.customer_id in first_line:
            message = f"repeats row {first_line[body.customer_id]}; one row per customer"
            errors.append({"row": line, "field": "customer_id", "message": message})
            continue
        first_line[body.customer_id] = line
        rows.append((line, body))
    if errors:
        raise _row_errors(len(errors), errors, "the CSV file", "imported")
    return rows, {"zone" if c == "address_zone" else c for c in frame.columns}


def _utc_column(values: pd.Series, name: str, flag: Flag) -> pd.Series:
    """A column of date-times as UTC timestamps; naive or unreadable cells are flagged."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.floor("us")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        flag(np.ones(len(values), bool), name, offset_message(name))
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    text = values.astype("string").str.strip()
    has_offset = text.str.contains(_OFFSET_AT_END, regex=True).fillna(False).to_numpy(bool)
    parsed = pd.to_datetime(
        text.where(has_offset), utc=True, errors="coerce", format="ISO8601"
    ).dt.floor("us")
    blank = text.isna().to_numpy(bool) | (text.fillna("") == "").to_numpy(bool)
    flag(blank, name, "is required")
    flag(~blank & ~has_offset, name, offset_message(name))
    flag(has_offset & parsed.isna().to_numpy(bool), name, "is not an ISO 8601 date-time")
    return parsed


def _cells(values: pd.Series) -> pd.Series:
    """Text cells with blanks and NaN as missing."""
    text = values.astype("string").str.strip()
    return text.where(text != "")


def attempt_frame_rows(
    frame: pd.DataFrame,
    *,
    source: str,
    latest: datetime,
    min_minutes: int,
    max_hours: int,
) -> list[dict[str, Any]]:
    """Check a frame of attempts (``ATTEMPT_REQUIRED`` columns, ``ATTEMPT_OPTIONAL`` ones
    if present) column by column, and return one ``DeliveryAttempted`` payload per row.
    Any bad cell makes it an ``InvalidInput`` listing the first 50 by row (a CSV's line:
    the header is line 1) and field."""
    missing = [c for c in ATTEMPT_REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInput(f"the attempts need columns {list(ATTEMPT_REQUIRED)}; missing {missing}")
    if frame.empty:
        raise InvalidInput("there are no attempts to record")
    frame = frame.reset_index(drop=True)
    errors: list[dict[str, Any]] = []
    count = 0

    def flag(mask: np.ndarray, field: str, message: str) -> None:
        nonlocal count
        rows = np.flatnonzero(mask)
        count += len(rows)
        room = MAX_ROW_ERRORS - len(errors)
        errors.extend({"row": int(r) + 2, "field": field, "message": message} for r in rows[:room])

    ids = _cells(frame["customer_id"])
    flag(
        ~ids.fillna("").str.match(CUSTOMER_ID.pattern).to_numpy(bool),
        "customer_id",
        "must be 1 to 100 characters: letters, digits and . _ : -",
    )
    times = {
        c: _utc_column(frame[c], c, flag) for c in ("attempted_at", "window_start", "window_end")
    }
    start, end = times["window_start"], times["window_end"]
    flag((end <= start).to_numpy(bool), "window_end", "must be after window_start")
    length = end - start
    outside = (length < pd.Timedelta(minutes=min_minutes)) | (
        length > pd.Timedelta(hours=max_hours)
    )
    flag(
        ((end > start) & outside).to_numpy(bool),
        "window_end",
        f"a window is {min_minutes} min to {max_hours} h long",
    )
    flag(
        (times["attempted_at"] > latest).to_numpy(bool),
        "attempted_at",
        "must not be after now + 5 min; record attempts made",
    )
    for name, column in times.items():
        flag(
            ((column < EARLIEST) | (column >= LATEST)).to_numpy(bool),
            name,
            f"must be between {EARLIEST.year} and {LATEST.year}",
        )
    made = times["attempted_at"]
    flag(
        ((made < start) | (made > end + LATE_LOG)).to_numpy(bool),
        "attempted_at",
        "must lie in the window (window_start to an hour after window_end)",
    )
    if pd.api.types.is_bool_dtype(frame["delivered"].dtype):
        delivered = frame["delivered"].astype("boolean")
    else:
        delivered = _cells(frame["delivered"]).str.lower().map(_BOOLS).astype("boolean")
    flag(delivered.isna().to_numpy(bool), "delivered", "must be true or false")
    reason = _cells(frame["failure_reason"])
    has_reason = reason.notna().to_numpy(bool)
    flag(
        has_reason & ~reason.isin(FAILURE_REASONS).to_numpy(bool),
        "failure_reason",
        f"must be one of {', '.join(FAILURE_REASONS)}",
    )
    done = delivered.fillna(False).to_numpy(bool)
    failed = (~delivered.fillna(True)).to_numpy(bool)
    flag(done & has_reason, "failure_reason", "must be empty when delivered is true")
    flag(failed & ~has_reason, "failure_reason", "is required when delivered is false")
    extra: dict[str, list[Any]] = {}
    for name in ATTEMPT_OPTIONAL:
        column = frame[name] if name in frame.columns else pd.Series([None] * len(frame))
        if name in ("precip_mm", "temp_c"):
            numbers = pd.to_numeric(column, errors="coerce")
            flag((numbers.isna() & column.notna()).to_numpy(bool), name, "must be a number")
            flag(np.isinf(numbers.to_numpy(float)), name, "must be finite")
            extra[name] = [None if pd.isna(v) else float(v) for v in numbers]
        else:
            cells = _cells(column)
            limit = 36 if name == "request_id" else 20
            flag(
                (cells.str.len() > limit).fillna(False).to_numpy(bool),
                name,
                f"must be at most {limit} characters",
            )
            extra[name] = [None if pd.isna(v) else str(v) for v in cells]
    if errors:
        raise _row_errors(count, errors, "the attempts", "recorded")
    # Plain lists, not per-cell pandas access: 25,000 rows stay well under a second.
    at, ws, we = (
        [t.to_pydatetime() for t in times[c]]
        for c in ("attempted_at", "window_start", "window_end")
    )
    reasons = [None if pd.isna(v) else str(v) for v in reason]
    return [
        attempt_payload(
            str(cid),
            attempted_at=at[i],
            window_start=ws[i],
            window_end=we[i],
            delivered=bool(ok),
            failure_reason=reasons[i],
            request_id=extra["request_id"][i],
            precip_mm=extra["precip_mm"][i],
            temp_c=extra["temp_c"][i],
            weather_source=extra["weather_source"][i],
            source=source,
        )
        for i, (cid, ok) in enumerate(zip(ids.tolist(), delivered.tolist(), strict=True))
    ]
