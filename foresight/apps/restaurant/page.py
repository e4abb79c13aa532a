"""Restaurant page: demand per hour or day with intervals (closed slots at zero), the
kitchen and delivery estimator, customer lookup, and the reorder list. Talks to the API
only."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from foresight.apps.restaurant import page_inventory, page_kitchen
from foresight.dashboard.client import ApiClient, ApiError
from foresight.dashboard.session import api


def demand_section(client: ApiClient, menu: dict[str, Any]) -> None:
    """Forecast chart per hour or day, by series, with its interval."""
    st.subheader("Demand")
    first = date.fromisoformat(menu["forecast_from"])
    c1, c2, c3 = st.columns(3)
    granularity = c1.radio("Per", ["day", "hour"], horizontal=True)
    reach = menu["daily_horizon_days"] if granularity == "day" else menu["hourly_horizon_days"]
    names = {i["item_id"]: i["name"] for i in menu["items"]}
    series = c2.selectbox(
        "Series",
        [
            "orders",
            "items",
            *[f"category:{c}" for c in menu["categories"]],
            *[f"item:{i}" for i in names],
        ],
        format_func=lambda s: (
            {"orders": "all orders", "items": "all items"}.get(s)
            or (s.split(":", 1)[1] if s.startswith("category") else names[s[5:]])
        ),
    )
    level = c3.select_slider("Interval", [50, 80, 90, 95], value=80)
    days = st.slider("Days ahead", 1, reach, min(reach, 7 if granularity == "day" else 2))
    params: dict[str, object] = {
        "start": first.isoformat(),
        "end": (first + timedelta(days=days - 1)).isoformat(),
        "granularity": granularity,
        "level": level,
        "measure": "orders" if series == "orders" else "items",
    }
    if series.startswith("category:"):
        params["category"] = series.split(":", 1)[1]
    elif series.startswith("item:"):
        params["item_id"] = series[5:]
    try:
        body = client.get("/api/v1/restaurant/demand", **params)
    except ApiError as exc:
        st.error(exc.detail)
        return
    points = pd.DataFrame(body["points"])
    points["at"] = pd.to_datetime(points["at"])
    unit = "orders" if params["measure"] == "orders" else "items"
    band = (
        alt.Chart(points)
        .mark_area(opacity=0.25)
        .encode(
            x=alt.X("at:T", title=None),
            y=alt.Y("lower:Q", title=f"{unit} per {granularity}"),
            y2="upper:Q",
        )
    )
    line = (
        alt.Chart(points)
        .mark_line(point=granularity == "day")
        .encode(x="at:T", y="value:Q", tooltip=["at:T", "value:Q", "lower:Q", "upper:Q", "open:N"])
    )
    st.altair_chart(band + line, use_container_width=True)
    total = body["total"]
    m1, m2 = st.columns(2)
    m1.metric(f"Total {unit}", f"{total['value']:.0f}", help=f"{level} % interval")
    m2.metric("Interval", f"{total['lower']:.0f} – {total['upper']:.0f}")
    closed = int((~points["open"]).sum())
    st.caption(
        f"{body['method']} · model {body['model_version']}"
        + (f" · fallback {body['fallback']}" if body["fallback"] else "")
        + (" · from cache" if body["cached"] else "")
        + (f" · {closed} closed {granularity}s at zero" if closed else "")
    )


def customers_section(client: ApiClient) -> None:
    """Lookup with segment, value and churn risk; segments of the most valuable."""
    st.subheader("Customers")
    try:
        top = client.get("/api/v1/restaurant/customers", order_by="clv", limit=50)
    except ApiError as exc:
        st.info(f"No customer scores yet ({exc.detail}): train the customer model.")
        return
    if not top["customers"]:
        st.info("No customer scores yet: train the customer model.")
        return
    ids = [row["customer_id"] for row in top["customers"]]
    left, right = st.columns([1, 2])
    typed = left.text_input("Customer id", "")
    chosen = typed.strip() or left.selectbox("…or one of the 50 most valuable", ids)
    try:
        one = client.get(f"/api/v1/restaurant/customer/{chosen}")
    except ApiError as exc:
        right.error(exc.detail)
    else:
        rfm_ = one["rfm"]
        a, b, c = right.columns(3)
        a.metric("Segment", rfm_["segment"])
        b.metric("12-month value", "—" if one["clv_12m"] is None else f"{one['clv_12m']:,.0f}")
        c.metric(
            "P(alive)",
            "—" if one["p_alive"] is None else f"{one['p_alive']:.0%}",
            help=f"churn risk tier: {one['churn_tier']}",
        )
        right.caption(
            f"{rfm_['frequency']} visits · last {rfm_['recency_days']:.0f} days ago · "
            f"next visit expected {one['next_visit_expected'] or '—'} · {one['method']} · "
            f"model {one['model_version']}"
        )
    segments = pd.DataFrame(top["customers"]).groupby("segment").size().rename("customers")
    st.altair_chart(
        alt.Chart(segments.reset_index(), title=f"Segments of the top {len(ids)} by value")
        .mark_bar()
        .encode(x="customers:Q", y=alt.Y("segment:N", sort="-x")),
        use_container_width=True,
    )


st.title("Restaurant")
client = api()
try:
    menu = client.get("/api/v1/restaurant/menu")
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
st.caption(
    f"{menu['restaurant_id']} · {menu['opening_hours']} ({menu['timezone']}) · data "
    f"{(menu['data_from'] or '—')[:10]} to {(menu['data_until'] or '—')[:10]}"
)
if not menu["forecast_from"]:
    st.info("No orders synced yet: run `foresight restaurant sync` or `foresight demo`.")
    st.stop()

tab_demand, tab_kitchen, tab_customers, tab_inventory = st.tabs(
    ["Demand", "Kitchen & delivery", "Customers", "Inventory"]
)
with tab_demand:
    demand_section(client, menu)
with tab_kitchen:
    page_kitchen.section(client, menu)
with tab_customers:
    customers_section(client)
with tab_inventory:
    page_inventory.section(client, menu)
