"""Sales page: top products, history and forecast with intervals, backtest per model."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from foresight.dashboard.client import ApiError
from foresight.dashboard.session import api

st.title("Sales")
client = api()

try:
    products = client.get("/api/v1/sales/products")
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
categories = sorted({p["category"] for p in products})

# ---- top products ------------------------------------------------------------------------
left, right = st.columns(2)
period = left.radio("Period", ["week", "month", "quarter"], horizontal=True)
category = right.selectbox("Category", ["all", *categories])
params = {"time_period": period, "limit": 10}
if category != "all":
    params["category"] = category
try:
    top = client.get("/api/v1/sales/top-products", **params)
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
st.subheader(f"Top products, {top['period_start']} to {top['period_end']}")
st.caption(
    f"model {top['model_version']} · generated {top['generated_at'][:19]} UTC"
    + (" · from cache" if top["cached"] else "")
)
table = pd.DataFrame(top["products"])
if not table.empty:
    table["80 % interval"] = table["interval_80"].map(
        lambda iv: f"{iv[0]:.0f}–{iv[1]:.0f}" if iv else "—"
    )
    st.dataframe(
        table[
            [
                "rank",
                "name",
                "category",
                "forecast_units",
                "80 % interval",
                "forecast_revenue",
                "previous_units",
                "trend_pct",
                "trend",
            ]
        ],
        hide_index=True,
        use_container_width=True,
    )

# ---- history and forecast ----------------------------------------------------------------
st.subheader("History and forecast")
names = {p["product_id"]: p["name"] for p in products}
choice = st.selectbox(
    "Series",
    [f"category:{c}" for c in categories] + [f"product:{p}" for p in sorted(names)],
    format_func=lambda s: s.split(":", 1)[1] if s.startswith("category") else names[s[8:]],
)
c1, c2 = st.columns(2)
horizon = c1.slider("Days ahead", 7, 91, 28)
level = c2.select_slider("Interval", [50, 80, 90, 95, 99], value=80)
kind, key = choice.split(":", 1)
query = {"product_id" if kind == "product" else "category": key}
try:
    fc = client.get("/api/v1/sales/forecast", horizon=horizon, level=level, **query)
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
hist = pd.DataFrame(fc["history"]).assign(kind="actual")
future = pd.DataFrame(fc["forecast"])
band = (
    alt.Chart(future)
    .mark_area(opacity=0.25)
    .encode(x="date:T", y=alt.Y("lower:Q", title="units per day"), y2="upper:Q")
)
line = alt.Chart(future).mark_line(strokeDash=[4, 2]).encode(x="date:T", y="units:Q")
actual = alt.Chart(hist).mark_line().encode(x="date:T", y="units:Q")
st.altair_chart(band + actual + line, use_container_width=True)
st.caption(
    f"{level} % conformal interval · ensemble "
    + ", ".join(f"{k} {v:.2f}" for k, v in fc["weights"].items())
)

# ---- backtest ----------------------------------------------------------------------------
st.subheader("Backtest (rolling origin, out of sample)")
try:
    bt = client.get("/api/v1/sales/backtest")
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
metrics = pd.DataFrame(bt["metrics"])
if not metrics.empty:
    st.altair_chart(
        alt.Chart(metrics, title="MASE by model (lower is better; 1 = naive one season back)")
        .mark_bar()
        .encode(x=alt.X("mase:Q"), y=alt.Y("model:N", sort="x"), color="model:N", row="group:N"),
    )
    st.dataframe(metrics, hide_index=True, use_container_width=True)
st.caption(f"{bt['windows']} cut-offs · trained until {bt['trained_until']}")
