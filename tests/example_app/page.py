"""Tips page: one table's expected tip (through the API, like every page)."""

from __future__ import annotations

import streamlit as st

from foresight.dashboard.client import ApiError
from foresight.dashboard.session import api

st.title("Tips")
client = api()
bill = st.number_input("Bill", min_value=1.0, value=40.0)
party = st.number_input("Party size", min_value=1, value=2)
try:
    answer = client.post("/api/v1/tips/predict", json={"bill": bill, "party_size": int(party)})
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
st.metric("Expected tip", f"{answer['tip']:.2f}")
st.caption(f"model {answer['model_version']}")
