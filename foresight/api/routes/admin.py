"""Admin routes: API keys and webhooks."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field, StringConstraints, field_validator

from foresight.api.deps import Admin, PlatformDep
from foresight.platform.audit import AuditQuery
from foresight.platform.errors import InvalidInput
from foresight.platform.notify import MAX_EVENT, MAX_URL, URL_PATTERN, check_url
from foresight.platform.schemas import MAX_JSON_INT, IsoDateTime

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "analyst", "service"]


class KeyCreated(BaseModel):
    id: int
    name: str
    role: str
    key: str = Field(description="Shown once; only its hash is stored.")


EventName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT)]


class WebhookCreate(BaseModel):
    url: str = Field(
        max_length=MAX_URL,
        examples=["https://crm.example/hooks/foresight"],
        # Documented only: the validator below says what is wrong in plainer words.
        json_schema_extra={"pattern": f"^{URL_PATTERN.pattern}$"},
    )
    events: list[EventName] = Field(
        min_length=1, max_length=100, examples=[["model.gate_failed"]], description="* for all."
    )
    secret: str | None = Field(None, min_length=16, max_length=200)

    @field_validator("url")
    @classmethod
    def _http_with_a_host(cls, url: str) -> str:
        try:
            return check_url(url)
        except InvalidInput as exc:  # the same words as the CLI's, as a field error
            raise ValueError(exc.message) from None


class WebhookCreated(BaseModel):
    id: int
    url: str
    events: list[str]
    secret: str = Field(description="Signs every delivery; shown once.")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    delivered: int = Field(description="Events delivered.")
    failed: int = Field(description="Deliveries that ended dead (kept for replay).")
    lag: int = Field(description="Events waiting to be sent to it, replays included.")
    attempts: int = Field(description="Failed attempts of the event being retried now.")
    paused_until: datetime | None = Field(description="Resting after repeated failures.")
    last_error: str | None
    last_delivered_at: datetime | None


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    dedup_id: str = Field(
        description="The X-Foresight-Delivery header it is sent with: receivers de-duplicate on it."
    )
    event: str
    event_offset: int | None = Field(description="Its offset in the event log.")
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_error: str | None
    response_status: int | None
    payload: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


class ReplayQueued(BaseModel):
    id: int
    status: Literal["pending"]


@router.post("/keys", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(platform: PlatformDep, admin: Admin, body: KeyCreate) -> dict[str, Any]:
    """Create an API key (the plain key is in this answer only)."""
    plain, principal = platform.keys.create(name=body.name, role=body.role)
    platform.audit(
        actor=admin.name, action="key.create", target=body.name, details={"role": body.role}
    )
    return {"id": principal.key_id, "name": body.name, "role": body.role, "key": plain}


@router.get("/keys", response_model=list[dict[str, Any]])
def list_keys(platform: PlatformDep, _: Admin) -> list[dict[str, Any]]:
    """Every key (never the key itself)."""
    return platform.keys.summaries()


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(
    platform: PlatformDep, admin: Admin, key_id: Annotated[int, Path(ge=1, le=2**31)]
) -> None:
    """Revoke a key at once."""
    platform.keys.revoke(key_id)
    platform.audit(actor=admin.name, action="key.revoke", target=str(key_id))


@router.post("/webhooks", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
def create_webhook(platform: PlatformDep, admin: Admin, body: WebhookCreate) -> dict[str, Any]:
    """Subscribe a URL to events from now on; deliveries are signed with the returned secret."""
    known = platform.known_events()
    unknown = [e for e in body.events if e != "*" and e not in known]
    if unknown:
        raise InvalidInput(
            f"unknown event(s) {', '.join(unknown)}; known events: {', '.join(known)}",
            details=[{"field": "events", "message": f"unknown event {e!r}"} for e in unknown],
        )
    hook = platform.notifier.add(body.url, body.events, body.secret)
    platform.audit(actor=admin.name, action="webhook.create", target=body.url)
    return hook


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(platform: PlatformDep, _: Admin) -> list[dict[str, Any]]:
    """Subscribed webhooks with their counters: delivered, failed, lag (events waiting)."""
    return platform.notifier.subscriptions()


@router.get("/webhooks/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    platform: PlatformDep,
    _: Admin,
    status: Literal["pending", "delivered", "dead"] | None = None,
    webhook_id: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Stored deliveries, newest first: ``?status=dead`` lists the failures kept for
    replay (delivered events are counted per webhook, not stored one by one)."""
    return platform.notifier.deliveries(status, limit, webhook_id=webhook_id)


class AuditEntry(BaseModel):
    id: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    at: datetime


class AuditPage(BaseModel):
    total: int = Field(description="Entries matching the filters.")
    offset: int
    limit: int
    items: list[AuditEntry]


@router.get("/audit", response_model=AuditPage)
def read_audit(
    platform: PlatformDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[
        str | None, Query(max_length=100, description='An action, or a family like "model."')
    ] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> dict[str, Any]:
    """Who changed what (keys, models, webhooks, imports), newest first."""
    query = AuditQuery(actor, action, target, since, until, limit, offset)
    total, items = platform.audit_log.read(query)
    return {"total": total, "offset": offset, "limit": limit, "items": items}


@router.delete("/webhooks/{webhook_id:int}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(
    platform: PlatformDep, admin: Admin, webhook_id: Annotated[int, Path(ge=1, le=2**31)]
) -> None:
    """Stop sending to a webhook at once (its dead deliveries stay listed)."""
    platform.notifier.remove(webhook_id)
    platform.audit(actor=admin.name, action="webhook.remove", target=str(webhook_id))


@router.post("/webhooks/deliveries/{delivery_id}/replay", response_model=ReplayQueued)
def replay_delivery(
    platform: PlatformDep, admin: Admin, delivery_id: Annotated[int, Path(ge=1, le=2**31)]
) -> dict[str, Any]:
    """Queue a dead delivery to be sent again (durably; its status follows)."""
    answer = platform.notifier.replay(delivery_id)
    platform.audit(actor=admin.name, action="webhook.replay", target=str(delivery_id))
    return answer


class EventOut(BaseModel):
    offset: int
    type: str
    key: str
    payload: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime


@router.get("/events", response_model=list[EventOut])
def read_events(
    platform: PlatformDep,
    _: Admin,
    since: Annotated[int, Query(ge=0, le=MAX_JSON_INT, description="Offsets after this one.")] = 0,
    type: Annotated[list[str] | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Any]:
    """The event log in order (model.gate_failed, drift.detected, app events…): read
    from an offset, keep the last one, ask again."""
    return [asdict(e) for e in platform.events.read(since, limit=limit, types=type)]
