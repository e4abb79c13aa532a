"""System page: health, every model with the headline metrics its app declares, and the
scheduled tasks."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from foresight.dashboard.client import ApiError
from foresight.dashboard.session import api

st.title("System")
client = api()
try:
    health = client.get("/health")
except Exception as exc:  # API down: say so, don't crash the page
    st.error(f"The API does not answer: {exc}")
    st.stop()

cols = st.columns(3)
cols[0].metric("Status", health["status"])
cols[1].metric("Version", health["version"])
cols[2].metric("Database", health["components"]["database"]["backend"])
st.dataframe(
    pd.DataFrame([{"component": k, **v} for k, v in health["components"].items()]),
    hide_index=True,
    width="stretch",
)

st.subheader("Models")
try:
    versions = client.get("/api/v1/models")
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
if not versions:
    st.info("No model trained yet: run `foresight demo` or `foresight train APP`.")
for name in dict.fromkeys(v["model"] for v in versions):
    rows = []
    for v in (v for v in versions if v["model"] == name):
        row = {"version": v["version"], "stage": v["stage"], "algorithm": v["algorithm"]}
        row.update({h["label"]: h["value"] for h in v["headline"]})
        row["created"] = v["created_at"][:19]
        rows.append(row)
    app = next(v["app"] for v in versions if v["model"] == name)
    st.caption(f"{name} ({app})")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Scheduled tasks")
try:
    tasks = client.get("/api/v1/schedule")
except ApiError as exc:
    st.caption(exc.detail)
else:
    st.dataframe(
        pd.DataFrame(tasks, columns=["name", "schedule", "next_run_at", "last_status", "failures"]),
        hide_index=True,
        width="stretch",
    )
