"""Delivery HTTP routes under ``/api/v1/delivery``: customers, their attempts, events and
calendars (docs/delivery-plan.md §6). No business logic: the service does it; these
functions read HTTP (headers, streamed bodies) and hand over."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from foresight.api.bodies import size_text
from foresight.api.deps import Reader, Writer, service_of
from foresight.api.uploads import receive_upload, upload_body
from foresight.apps.delivery.schemas import (
    Attempt,
    AttemptIn,
    Customer,
    CustomerIn,
    CustomerPatch,
    CustomerSummary,
    EventOut,
    ImportResponse,
)
from foresight.apps.delivery.schemas_customers import HouseholdType
from foresight.apps.delivery.service import DeliveryService
from foresight.platform.errors import InvalidInput, PayloadTooLarge

# A customer file is read whole by the all-or-nothing import (at most 100,000 rows).
MAX_IMPORT_BYTES = 100 * 2**20
CALENDAR_TYPES = ("text/calendar", "application/octet-stream")
MAX_OFFSET = 2**31
MAX_EVENT_OFFSET = 2**63 - 1  # a BIGINT, on SQLite and PostgreSQL alike
_VERSION = re.compile(r"^[0-9]{1,18}$")

router = APIRouter(prefix="/api/v1/delivery", tags=["delivery"])
Service = Annotated[DeliveryService, Depends(service_of(DeliveryService))]
CustomerId = Annotated[str, Path(min_length=1, max_length=100, examples=["c-00042"])]
Limit = Annotated[int, Query(ge=1, le=1000)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer (with a suggestion), or it was deleted."}
}


class CalendarStatus(BaseModel):
    """A customer's calendar: where it comes from, how fresh it is, what it holds.

    ``warnings`` come with an upload's answer, ``busy_next_7_days`` (UTC ``[start, end,
    all_day]``) with a read; fields a state does not have are left out (``{"status":
    "none"}`` for a customer without a calendar).
    """

    # Declared here until the calendar part's bodies land in the schemas module.
    model_config = ConfigDict(extra="forbid")

    status: Literal["none", "fresh", "stale", "unavailable"]
    kind: Literal["upload", "feed"] | None = None
    error: str | None = None
    checked_at: datetime | None = None
    fetched_at: datetime | None = None
    instances: int | None = None
    floating_times: bool | None = None
    warnings: list[str] | None = None
    # Lists, not tuples: a tuple's schema ("items": [...]) is not valid OpenAPI 3.1.
    busy_next_7_days: list[list[datetime | bool]] | None = Field(
        None, description="[start, end, all_day] of each busy interval (UTC)."
    )


def _version(if_match: str | None) -> int | None:
    """The integer version an ``If-Match`` header names (None without one)."""
    if if_match is None:
        return None
    value = if_match.strip()
    if not _VERSION.match(value):
        message = (
            f"If-Match must be the customer's version, an integer such as 3; got {value[:40]!r}"
        )
        raise InvalidInput(message, details=[{"field": "If-Match", "message": message}])
    return int(value)


def _calendar_type(request: Request) -> None:
    """415 unless the body is declared as a calendar file."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in CALENDAR_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the calendar as text/calendar (or application/octet-stream), "
            f"not {kind[:60] or 'a body without a Content-Type'}",
        )


def _calendar_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"calendar too large: the file is over {size_text(max_bytes)}; "
        "export a shorter date range of the calendar"
    )


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``max_bytes``: from its
    declared length before a byte is read, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _calendar_too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _calendar_too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


# ---- customers ----------------------------------------------------------------------------
@router.post(
    "/customers",
    response_model=Customer,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The customer_id exists (or was deleted)."}},
)
def create_customer(body: CustomerIn, service: Service, principal: Writer) -> Customer:
    """Store a new customer (409 if the id is taken)."""
    return service.create_customer(body, actor=principal.name)


@router.get("/customers", response_model=list[CustomerSummary])
def read_customers(
    service: Service,
    _: Reader,
    zone: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    household_type: HouseholdType | None = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[CustomerSummary]:
    """Live customers by id, optionally of one zone and one household type."""
    return service.customers.list(
        zone=zone, household_type=household_type, limit=limit, offset=offset
    )


@router.post(
    "/customers/import",
    response_model=ImportResponse,
    openapi_extra=upload_body(),
    responses={422: {"description": "Bad rows (the first 50 listed); nothing was imported."}},
)
async def import_customers(request: Request, service: Service, principal: Writer) -> ImportResponse:
    """Create or update customers from a CSV upload: every row, or none if any is bad."""
    with await receive_upload(request, max_bytes=MAX_IMPORT_BYTES) as upload:
        # Checking every row and the one transaction take seconds on a big file: off the
        # event loop, so the rest of the API goes on answering meanwhile.
        return await run_in_threadpool(
            lambda: service.import_customers(upload.path.read_bytes(), actor=principal.name)
        )


@router.get("/customers/{customer_id}", response_model=Customer, responses=NOT_FOUND)
def read_customer(customer_id: CustomerId, service: Service, _: Reader) -> Customer:
    """One customer's profile, with its version (send it as If-Match to PATCH)."""
    return service.customers.get(customer_id)


@router.patch(
    "/customers/{customer_id}",
    response_model=Customer,
    responses={**NOT_FOUND, 412: {"description": "If-Match names an older version."}},
)
def update_customer(
    customer_id: CustomerId,
    patch: CustomerPatch,
    service: Service,
    principal: Writer,
    if_match: Annotated[
        str | None,
        Header(
            max_length=100,
            description="The version the change is meant for (an integer); 412 if the "
            "customer has moved on.",
        ),
    ] = None,
) -> Customer:
    """Change the fields sent; a field left out stays as it is."""
    return service.update_customer(
        customer_id, patch, if_match=_version(if_match), actor=principal.name
    )


@router.delete(
    "/customers/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
def delete_customer(customer_id: CustomerId, service: Service, principal: Writer) -> Response:
    """Delete the customer and erase its calendar (its events stay, for audit)."""
    service.delete_customer(customer_id, actor=principal.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- attempts and events ------------------------------------------------------------------
@router.post(
    "/customers/{customer_id}/attempts",
    response_model=Attempt,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
def create_attempt(
    customer_id: CustomerId, body: AttemptIn, service: Service, _: Writer
) -> Attempt:
    """Record a delivery attempt (a repeated idempotency_key returns the stored one)."""
    return service.add_attempt(customer_id, body)


@router.get("/customers/{customer_id}/attempts", response_model=list[Attempt], responses=NOT_FOUND)
def read_attempts(
    customer_id: CustomerId, service: Service, _: Reader, limit: Limit = 100
) -> list[Attempt]:
    """A customer's attempts, newest first."""
    return service.customers.attempts(customer_id, limit)


@router.get("/customers/{customer_id}/events", response_model=list[EventOut], responses=NOT_FOUND)
def read_events(
    customer_id: CustomerId,
    service: Service,
    _: Reader,
    since: Annotated[int, Query(ge=0, le=MAX_EVENT_OFFSET)] = 0,
    limit: Limit = 100,
    types: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="Only these event types (repeat the parameter, or separate by commas).",
        ),
    ] = None,
) -> list[EventOut]:
    """A customer's events after offset ``since``, oldest first (its own predictions
    included as soon as they are made)."""
    wanted = [t.strip() for v in types or () for t in v.split(",") if t.strip()]
    return service.events(customer_id, since=since, limit=limit, types=wanted or None)


# ---- calendar -----------------------------------------------------------------------------
@router.put(
    "/customers/{customer_id}/calendar",
    response_model=CalendarStatus,
    response_model_exclude_unset=True,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in CALENDAR_TYPES
            },
        }
    },
    responses={
        **NOT_FOUND,
        413: {"description": "Over the size, event or instance limit (named)."},
        415: {"description": "Not sent as text/calendar or application/octet-stream."},
        422: {"description": "Not an iCalendar file (the parser's reason)."},
    },
)
async def update_calendar(
    request: Request, customer_id: CustomerId, service: Service, principal: Writer
) -> dict[str, Any]:
    """Replace the customer's calendar by an uploaded ``.ics`` file; a file that cannot be
    used leaves the stored one as it was."""
    _calendar_type(request)
    data = await _read_capped(request, service.settings.calendar_max_bytes)
    # Expanding recurring events can take a second on a big file: off the event loop.
    return await run_in_threadpool(
        lambda: service.upload_calendar(customer_id, data, actor=principal.name)
    )


@router.get(
    "/customers/{customer_id}/calendar",
    response_model=CalendarStatus,
    response_model_exclude_unset=True,
    responses=NOT_FOUND,
)
def read_calendar(customer_id: CustomerId, service: Service, _: Reader) -> dict[str, Any]:
    """The calendar's status and its busy intervals over the next 7 days."""
    return service.calendars.status(customer_id)


@router.delete(
    "/customers/{customer_id}/calendar",
    response_model=CalendarStatus,
    response_model_exclude_unset=True,
    responses=NOT_FOUND,
)
def delete_calendar(customer_id: CustomerId, service: Service, principal: Writer) -> dict[str, Any]:
    """Remove the customer's calendar and its busy intervals; answers the new status."""
    service.delete_calendar(customer_id, actor=principal.name)
    return service.calendars.status(customer_id)


class FeedIn(BaseModel):
    """A calendar feed: an ``.ics`` URL (http, https or webcal), e.g. Google Calendar's
    "secret address in iCal format" or Outlook's published calendar link."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)


@router.put(
    "/customers/{customer_id}/calendar/feed",
    response_model=CalendarStatus,
    response_model_exclude_unset=True,
    responses={
        **NOT_FOUND,
        422: {"description": "Not a public http(s) or webcal URL (named)."},
    },
)
def update_calendar_feed(
    customer_id: CustomerId, body: FeedIn, service: Service, principal: Writer
) -> dict[str, Any]:
    """Follow a calendar feed and fetch it now. A fetch that fails answers 200 with
    ``status: "unavailable"`` and its ``error``; predictions then rest on history."""
    return service.set_feed(customer_id, body.url, actor=principal.name)


@router.post(
    "/customers/{customer_id}/calendar/refresh",
    response_model=CalendarStatus,
    response_model_exclude_unset=True,
    responses={**NOT_FOUND, 422: {"description": "The customer has no calendar feed."}},
)
def refresh_calendar(
    customer_id: CustomerId, service: Service, principal: Writer
) -> dict[str, Any]:
    """Fetch the customer's calendar feed now (the scheduler does it every hour)."""
    return service.refresh_feed(customer_id, actor=principal.name)
