"""Churn page: risk distribution, at-risk list, one customer's reasons, what-if, batch upload."""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from foresight.dashboard.client import ApiError
from foresight.dashboard.session import api

st.title("Churn")
client = api()

try:
    summary = client.get("/api/v1/churn/risk-summary")
    schema = client.get("/api/v1/churn/schema")
except ApiError as exc:
    st.error(exc.detail)
    st.stop()

# ---- risk distribution -------------------------------------------------------------------
tiers = summary["tiers"]
c = st.columns(4)
c[0].metric("Customers scored", f"{summary['customers']:,}")
c[1].metric("High risk", f"{tiers['high']:,}")
c[2].metric("Medium risk", f"{tiers['medium']:,}")
c[3].metric("Low risk", f"{tiers['low']:,}")
hist = pd.DataFrame(
    {
        "probability": [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)],
        "customers": summary["histogram"],
    }
)
st.altair_chart(
    alt.Chart(hist, title="Churn probability distribution")
    .mark_bar()
    .encode(x=alt.X("probability", sort=None), y="customers"),
    width="stretch",
)

# ---- at-risk table -----------------------------------------------------------------------
st.subheader("At-risk customers")
tier = st.selectbox("Tier", ["high", "medium", "low", "all"], index=0)
at_risk = client.get("/api/v1/churn/at-risk", tier=None if tier == "all" else tier, limit=200)
table = pd.DataFrame(at_risk)
st.dataframe(table, hide_index=True, width="stretch")

# ---- one customer: explanation and what-if ------------------------------------------------
st.subheader("Why this customer?")
default_id = table["customer_id"].iloc[0] if len(table) else ""
customer_id = st.text_input("Customer id", value=default_id, key="customer_id")
if customer_id:
    try:
        stored = client.get(f"/api/v1/churn/customers/{customer_id}")["attributes"]
        base = client.post("/api/v1/churn/predict", json={"customer_id": customer_id, "top": 10})
    except ApiError as exc:
        st.error(exc.detail)
        st.stop()
    st.metric(
        "Churn probability",
        f"{base['churn_probability']:.1%}",
        help=f"{base['risk_tier']} risk · model {base['model_version']}"
        + (f" · fallback {base['fallback']}" if base["fallback"] else ""),
    )
    factors = pd.DataFrame(base["top_factors"])
    if len(factors):
        factors["value"] = factors["value"].astype(str)  # mixed types do not go to Arrow
        factors["label"] = factors["feature"] + " = " + factors["value"]
        factors["direction"] = factors["contribution"].map(
            lambda v: "raises" if v > 0 else "lowers"
        )
        st.altair_chart(
            alt.Chart(factors, title="What moves this customer's risk (probability points)")
            .mark_bar()
            .encode(
                x=alt.X("contribution", title="contribution"),
                y=alt.Y("label", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
                color=alt.Color(
                    "direction",
                    scale=alt.Scale(domain=["raises", "lowers"], range=["#d62728", "#2ca02c"]),
                ),
                tooltip=["text"],
            ),
            width="stretch",
        )

    with st.expander("What if…", expanded=False):
        edited = dict(stored)
        cols = st.columns(3)
        for i, field in enumerate(schema["fields"]):
            name = field["name"]
            with cols[i % 3]:
                if field["kind"] == "categorical":
                    options = field["categories"]
                    current = str(stored.get(name))
                    edited[name] = st.selectbox(
                        name,
                        options,
                        index=options.index(current) if current in options else 0,
                        key=f"whatif-{customer_id}-{name}",  # per customer: starts from its values
                    )
                else:
                    value = stored.get(name)
                    edited[name] = st.number_input(
                        name,
                        value=float(value) if value is not None else 0.0,
                        min_value=0.0 if (field["minimum"] or 0) >= 0 else None,
                        key=f"whatif-{customer_id}-{name}",  # per customer: starts from its values
                    )
        try:
            what_if = client.post(
                "/api/v1/churn/predict", json={"features": edited, "explain": False}
            )
            delta = what_if["churn_probability"] - base["churn_probability"]
            st.metric(
                "What-if probability",
                f"{what_if['churn_probability']:.1%}",
                delta=f"{delta:+.1%}",
                delta_color="inverse",
            )
        except ApiError as exc:
            st.error(exc.detail)

# ---- batch upload ------------------------------------------------------------------------
st.subheader("Score a file")
upload = st.file_uploader("Customer CSV (same columns as the training data)", type=["csv"])
if upload is not None and st.button("Score file"):
    try:
        job = client.post(
            "/api/v1/churn/predict/batch", content=upload.getvalue(), content_type="text/csv"
        )
    except ApiError as exc:
        st.error(exc.detail)
        st.stop()
    bar = st.progress(0.0, text="queued")
    status = client.get(job["status_url"])
    for _ in range(600):
        status = client.get(job["status_url"])
        bar.progress(status["progress"], text=f"{status['status']}: {status['done']} scored")
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.5)
    if status["status"] == "failed":
        st.error(status["error"])
    else:
        summary = status["summary"]
        st.success(
            f"{summary['scored']} rows scored, {summary['rejected']} rejected "
            f"({summary['model_version']})"
        )
        if status["errors"]:
            st.dataframe(pd.DataFrame(status["errors"]), hide_index=True)
        first = client.get(job["results_url"], limit=1000)
        st.dataframe(pd.DataFrame(first["items"]), hide_index=True, width="stretch")
        st.caption(f"first {len(first['items'])} of {first['total']} rows")
        csv = client.get(job["results_url"], format="csv")
        st.download_button("Download CSV", csv, "churn-predictions.csv")
