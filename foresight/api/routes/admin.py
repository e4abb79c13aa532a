"""Admin routes: API keys and webhooks."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from foresight.api.deps import Admin, PlatformDep

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "analyst", "service"]


class KeyCreated(BaseModel):
    id: int
    name: str
    role: str
    key: str = Field(description="Shown once; only its hash is stored.")


class WebhookCreate(BaseModel):
    url: str = Field(pattern=r"^https?://", max_length=1000)
    events: list[str] = Field(min_length=1, examples=[["churn.high_risk", "model.gate_failed"]])
    secret: str | None = Field(None, min_length=16, max_length=200)


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
def revoke_key(platform: PlatformDep, admin: Admin, key_id: int) -> None:
    """Revoke a key at once."""
    platform.keys.revoke(key_id)
    platform.audit(actor=admin.name, action="key.revoke", target=str(key_id))


@router.post("/webhooks", response_model=dict[str, Any], status_code=status.HTTP_201_CREATED)
def create_webhook(platform: PlatformDep, admin: Admin, body: WebhookCreate) -> dict[str, Any]:
    """Subscribe a URL to events; deliveries are signed with the returned secret."""
    hook = platform.notifier.add(body.url, body.events, body.secret)
    platform.audit(actor=admin.name, action="webhook.create", target=body.url)
    return hook


@router.get("/webhooks", response_model=list[dict[str, Any]])
def list_webhooks(platform: PlatformDep, _: Admin) -> list[dict[str, Any]]:
    """Subscribed webhooks."""
    return platform.notifier.subscriptions()


@router.get("/webhooks/deliveries", response_model=list[dict[str, Any]])
def list_deliveries(
    platform: PlatformDep, _: Admin, status: str | None = None
) -> list[dict[str, Any]]:
    """Recent deliveries; ``?status=dead`` lists the failures kept for replay."""
    return platform.notifier.deliveries(status)
