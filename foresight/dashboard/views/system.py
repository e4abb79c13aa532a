"""System page: health, models with their metrics and gates, recent predictions."""

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
    st.info("No model trained yet: run `foresight train churn`.")
else:
    rows = []
    for v in versions:
        m = v["metrics"]
        rows.append(
            {
                "model": v["model"],
                "version": v["version"],
                "stage": v["stage"],
                "algorithm": v["algorithm"],
                "holdout ROC-AUC": m.get("roc_auc"),
                "CV ROC-AUC": m.get("cv_roc_auc"),
                "PR-AUC": m.get("pr_auc"),
                "Brier": m.get("brier"),
                "created": v["created_at"][:19],
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Recent predictions")
apps = [k.split(":", 1)[1] for k in health["components"] if k.startswith("model:")]
for name in apps:
    try:
        recent = client.get(f"/api/v1/{name}/predictions", limit=20)
    except ApiError as exc:
        st.caption(f"{name}: {exc.detail}")
        continue
    st.caption(name)
    st.dataframe(pd.DataFrame(recent), hide_index=True, width="stretch")
