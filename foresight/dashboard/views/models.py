"""Models page: per model, drift of recent inputs against the training reference and
accuracy on the outcomes posted back (the platform's monitor)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from foresight.dashboard.client import ApiError
from foresight.dashboard.session import api

st.title("Models")
client = api()
try:
    versions = client.get("/api/v1/models")
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
models = list(dict.fromkeys(v["model"] for v in versions if v["stage"] == "production"))
if not models:
    st.info("No model in production yet: run `foresight demo` or `foresight train APP`.")
    st.stop()
name = st.selectbox("Model", models)
if st.button("Check now"):
    try:
        client.post(f"/api/v1/models/{name}/monitor")
    except ApiError as exc:
        st.error(exc.detail)
try:
    report = client.get(f"/api/v1/models/{name}/monitor")
except ApiError as exc:
    st.info(exc.detail)
    st.stop()

cols = st.columns(3)
cols[0].metric("Version", report["model_version"] or "—")
cols[1].metric("Inputs", "drifted" if report["drifted"] else "stable")
cols[2].metric("Checked", report["checked_at"][:16].replace("T", " "))

st.subheader("Drift per feature")
if report["drift"] is None:
    st.caption("; ".join(report.get("notes") or ["not checked"]))
else:
    drift = pd.DataFrame(report["drift"]["features"])
    if drift["psi"].isna().all():
        st.caption(
            f"Only {report['drift']['n_current']} recent inputs: too few to test "
            "(at least 30 are needed)."
        )
    st.altair_chart(
        alt.Chart(
            drift.dropna(subset=["psi"]),
            title="PSI against the training reference (0.2 and up: a shift)",
        )
        .mark_bar()
        .encode(
            x=alt.X("psi:Q", title="PSI"),
            y=alt.Y("name:N", sort="-x", title=None),
            color=alt.Color("drifted:N", scale=alt.Scale(range=["#4c78a8", "#e45756"])),
        ),
        width="stretch",
    )
    st.dataframe(
        drift[["name", "kind", "method", "statistic", "threshold", "psi", "drifted", "n_current"]],
        hide_index=True,
        width="stretch",
    )

st.subheader("Accuracy on outcomes")
accuracy = report["accuracy"]
if not accuracy:
    st.caption(f"No outcomes posted yet: POST them to /api/v1/<app>/outcomes for {name}.")
else:
    st.dataframe(
        pd.DataFrame([{"metric": k, "value": v} for k, v in accuracy.items()]),
        hide_index=True,
        width="stretch",
    )
