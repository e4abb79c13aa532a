"""Restaurant page, the kitchen ticket and delivery time estimator: pick a basket, when
it is ordered and how far it goes; the API answers with 90 % intervals, the model
version and the fallback link that answered. Talks to the API only."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import streamlit as st

from foresight.dashboard.client import ApiClient, ApiError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _basket(menu: dict[str, Any]) -> list[dict[str, Any]]:
    """Items, sizes and quantities picked on the page, as the API's basket lines."""
    items = {i["item_id"]: i for i in menu["items"]}
    chosen = st.multiselect(
        "Basket",
        list(items),
        default=list(items)[:2],
        format_func=lambda i: items[i]["name"],
    )
    lines = []
    for item_id in chosen:
        sizes = items[item_id]["sizes"]
        left, right = st.columns([2, 1])
        size = left.selectbox(f"{items[item_id]['name']} size", sizes) if sizes else None
        quantity = right.number_input(
            f"{items[item_id]['name']} quantity", min_value=1, max_value=50, value=1
        )
        lines.append({"item_id": item_id, "size": size, "quantity": int(quantity)})
    return lines


def _minutes(box: Any, label: str, body: dict[str, Any], key: str) -> None:
    box.metric(label, f"{body[key]:.1f} min", help=f"{body['level']} % interval")
    box.write(f"{body['lower']:.1f} – {body['upper']:.1f} min ({body['level']} % interval)")
    box.caption(
        f"{body['method']} · model {body['model_version']}"
        + (f" · fallback {body['fallback']}" if body["fallback"] else "")
        + (" · from cache" if body["cached"] else "")
    )
    for warning in body["warnings"]:
        box.warning(f"{warning.get('field')}: {warning.get('message')}")


def _when(menu: dict[str, Any]) -> datetime:
    last = (menu.get("data_until") or "")[:10]
    day = date.fromisoformat(last) if last else date.today()
    left, right = st.columns(2)
    picked_day = left.date_input("Order day", day)
    picked_time = right.time_input("Order time (local)", time(19, 0))
    return datetime.combine(picked_day, picked_time)


def section(client: ApiClient, menu: dict[str, Any]) -> None:
    """The kitchen ticket and delivery time estimator."""
    st.subheader("Kitchen and delivery time")
    lines = _basket(menu)
    at = _when(menu)
    with st.expander("Kitchen load (default: from the synced orders at that time)"):
        given = st.checkbox("Give the load myself", value=False)
        c1, c2 = st.columns(2)
        open_tickets = c1.number_input("Open tickets", min_value=0, value=3)
        in_queue = c2.number_input("Items in queue", min_value=0, value=6)
    distance = st.number_input(
        "Delivery distance (the RMS's unit)", min_value=0.0, value=4.0, step=0.5
    )
    if not lines:
        st.info("Pick at least one item.")
        return
    ticket: dict[str, Any] = {"items": lines, "ordered_at": at.isoformat()}
    if given:
        ticket |= {"open_tickets": int(open_tickets), "items_in_queue": int(in_queue)}
    trip = {
        "hour": round(at.hour + at.minute / 60, 4),
        "day": DAYS[at.weekday()],
        "distance": float(distance),
        "items": lines,
    }
    left, right = st.columns(2)
    try:
        kitchen = client.post("/api/v1/restaurant/kitchen", json=ticket)
    except ApiError as exc:
        left.error(exc.detail)
    else:
        _minutes(left, "Ticket ready in", kitchen, "ticket_minutes")
        load = kitchen["load"]
        left.caption(
            f"load ({load['source']}): {load['open_tickets']} open tickets, "
            f"{load['items_in_queue']} items in queue, {load['orders_last_15m']} orders in "
            "the last 15 min"
        )
    try:
        delivery = client.post("/api/v1/restaurant/kitchen/delivery", json=trip)
    except ApiError as exc:
        right.error(exc.detail)
    else:
        _minutes(right, "Delivered in", delivery, "delivery_minutes")
    st.caption(
        "In the demo, delivery times are real (modeldata's deliveries) but each was matched "
        "to a pizza order by weekday, hour and basket size only: the delivery model sees "
        "categories of a basket that was not the one delivered, so its error is larger "
        "than on the original data."
    )
