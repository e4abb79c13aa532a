"""``foresight keys``, ``foresight webhooks`` and ``foresight audit``."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Column, Table

from foresight.platform.audit import AuditQuery
from foresight.platform.terminal import console, fail, platform_of, run_or_fail

keys_cli = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
webhooks_cli = typer.Typer(
    help="Outgoing webhooks: subscribe, list, remove, replay dead deliveries.",
    no_args_is_help=True,
)


@keys_cli.command("create")
def keys_create(
    ctx: typer.Context,
    role: str = typer.Option(..., help="admin, analyst or service"),
    name: str = typer.Option("cli", help="Who or what uses the key."),
) -> None:
    """Create an API key; it is printed once."""
    platform = platform_of(ctx)
    plain, principal = run_or_fail(platform.keys.create, name=name, role=role)
    platform.audit(actor="cli", action="key.create", target=name, details={"role": role})
    console.print(f"key id {principal.key_id} ({role}): [bold]{plain}[/]")


@keys_cli.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List keys (never the keys themselves)."""
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    for k in platform_of(ctx).keys.summaries():
        revoked = "yes" if k["revoked"] else ""
        table.add_row(
            str(k["id"]), k["name"], k["role"], k["prefix"], k["created_at"][:19], revoked
        )
    console.print(table)


@keys_cli.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: int) -> None:
    """Revoke a key."""
    platform = platform_of(ctx)
    run_or_fail(platform.keys.revoke, key_id)
    platform.audit(actor="cli", action="key.revoke", target=str(key_id))
    console.print(f"revoked key {key_id}")


@webhooks_cli.command("add")
def webhooks_add(
    ctx: typer.Context,
    url: str,
    event: list[str] = typer.Option(
        ..., "--event", help="An event to send (repeat for several; * for all)."
    ),
) -> None:
    """Subscribe URL to events; prints the signing secret once."""
    platform = platform_of(ctx)
    known = platform.known_events()
    unknown = [e for e in event if e != "*" and e not in known]
    if unknown:
        fail(f"unknown event(s) {', '.join(unknown)}; known events: {', '.join(known)}")
    hook = run_or_fail(platform.notifier.add, url, event)
    platform.audit(actor="cli", action="webhook.create", target=url)
    console.print(
        f"webhook {hook['id']} → {url} for {', '.join(event)}; secret [bold]{hook['secret']}[/]"
    )


@webhooks_cli.command("list")
def webhooks_list(ctx: typer.Context) -> None:
    """Subscribed webhooks with their counters, and recent dead deliveries."""
    notifier = platform_of(ctx).notifier
    url, events = Column("url", overflow="fold"), Column("events", overflow="fold")
    table = Table("id", url, events, "state", "delivered", "failed", "lag", "last error")
    for h in notifier.subscriptions():
        state = "active" if h["active"] else "off"
        if h["active"] and h["paused_until"] is not None:
            state = f"paused until {h['paused_until']:%Y-%m-%d %H:%M:%S}"
        table.add_row(
            str(h["id"]),
            h["url"],
            ", ".join(h["events"]),
            state,
            str(h["delivered"]),
            str(h["failed"]),
            str(h["lag"]),
            h["last_error"] or "",
        )
    console.print(table)
    for d in notifier.deliveries("dead", limit=10):
        console.print(f"[red]dead[/] delivery {d['id']} {d['event']}: {d['last_error']}")


@webhooks_cli.command("remove")
def webhooks_remove(ctx: typer.Context, webhook_id: int) -> None:
    """Stop sending to a webhook."""
    platform = platform_of(ctx)
    run_or_fail(platform.notifier.remove, webhook_id)
    platform.audit(actor="cli", action="webhook.remove", target=str(webhook_id))
    console.print(f"webhook {webhook_id} removed")


@webhooks_cli.command("replay")
def webhooks_replay(
    ctx: typer.Context,
    delivery_id: int | None = typer.Argument(None, help="One dead delivery; all if omitted."),
) -> None:
    """Send dead deliveries again (and whatever else waits) and show how they ended."""
    notifier = platform_of(ctx).notifier
    ids = [delivery_id] if delivery_id is not None else notifier.replay_dead()
    if delivery_id is not None:
        run_or_fail(notifier.replay, delivery_id)
    notifier.drain(timeout=120)
    if not ids:
        console.print("no dead deliveries to replay")
    by_id = {d["id"]: d for d in notifier.deliveries(limit=10_000)}
    for i in ids:
        d = by_id.get(i, {})
        console.print(f"delivery {i}: {d.get('status')} {d.get('last_error') or ''}")


def audit(
    ctx: typer.Context,
    actor: str | None = typer.Option(None),
    action: str | None = typer.Option(None, help='An action, or a family like "model."'),
    target: str | None = typer.Option(None),
    since: datetime | None = typer.Option(None, help="ISO date/time (UTC)."),
    limit: int = typer.Option(50, min=1, max=10_000),
) -> None:
    """Who changed what, newest first."""
    total, rows = platform_of(ctx).audit_log.read(
        AuditQuery(actor=actor, action=action, target=target, since=since, limit=limit)
    )
    table = Table("when", "actor", "action", "target", "details", title=f"{total} entries")
    for r in rows:
        table.add_row(
            r["at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["actor"],
            r["action"],
            r["target"],
            str(r["details"] or ""),
        )
    console.print(table)
