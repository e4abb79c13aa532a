"""Restaurant page, inventory tab: the reorder list (what to order now first) and the
batches that will expire before they can be used, at a chosen service level."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from foresight.dashboard.client import ApiClient, ApiError

LEVELS = [0.8, 0.9, 0.95, 0.98, 0.99]
WARNINGS_SHOWN = 10  # one box each; the rest are counted in a caption
ORDER_NOW = "background-color: rgba(255, 193, 7, 0.25)"


def reorder_table(items: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per ingredient as the API orders them (order-now first), in its unit."""
    return pd.DataFrame(
        {
            "ingredient": [a["name"] for a in items],
            "order now": [a["reorder_now"] for a in items],
            "order": [a["suggested_order_qty"] for a in items],
            "usable": [a["usable_on_hand"] for a in items],
            "on hand": [a["on_hand"] for a in items],
            "cover (days)": [a["days_of_cover"] for a in items],
            "reorder point": [a["reorder_point"] for a in items],
            "safety stock": [a["safety_stock"] for a in items],
            "lead (days)": [a["lead_time_days"] for a in items],
            "unit": [a["unit"] for a in items],
        }
    )


def section(client: ApiClient, menu: dict[str, Any]) -> None:
    """The reorder list with expiry warnings (``menu`` is not needed: the answer carries
    its own dates and units)."""
    st.subheader("Inventory")
    left, right = st.columns([2, 1])
    level = left.select_slider(
        "Service level",
        LEVELS,
        value=0.95,
        format_func=lambda v: f"{v:.0%}",
        help="The chance of not running out before the next delivery arrives.",
    )
    only_orders = right.toggle("Only what to order now", value=False)
    try:
        body = client.get("/api/v1/restaurant/inventory", service_level=level)
    except ApiError as exc:
        st.error(exc.detail)
        return
    items = body["items"]
    if not items:
        st.info("No ingredients in the RMS's inventory table yet.")
        return
    ordered = [a for a in items if a["reorder_now"]]
    m1, m2, m3 = st.columns(3)
    m1.metric("To order now", f"{len(ordered)} of {len(items)}")
    m2.metric("Batches expiring unused", len(body["expiring"]))
    m3.metric("Stock as of", body["as_of"])
    table = reorder_table(ordered if only_orders else items)
    st.dataframe(
        table.style.apply(
            lambda row: [ORDER_NOW if row["order now"] else ""] * len(row), axis=1
        ).format(precision=1, na_rep="—"),
        hide_index=True,
        width="stretch",
    )
    for w in body["expiring"][:WARNINGS_SHOWN]:
        st.warning(
            f"{w['ingredient_id']}: {w['unusable']:,.0f} {w['unit']} of batch {w['batch_id']} "
            f"({w['quantity']:,.0f} {w['unit']}) will expire unused after {w['expires_at']}."
        )
    if len(body["expiring"]) > WARNINGS_SHOWN:
        st.caption(f"… and {len(body['expiring']) - WARNINGS_SHOWN} more batches expiring unused.")
    st.caption(
        f"{body['method']} · model {body['model_version']}"
        + (f" · fallback {body['fallback']}" if body["fallback"] else "")
        + f" · demand {body['demand_method']} ({body['demand_model_version']})"
        + (f" · demand fallback {body['demand_fallback']}" if body["demand_fallback"] else "")
        + (" · from cache" if body["cached"] else "")
    )
