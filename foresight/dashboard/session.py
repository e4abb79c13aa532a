"""Shared page setup: the API client for this browser session, and the key prompt."""

from __future__ import annotations

import streamlit as st

from foresight.dashboard.client import ApiClient, from_env


def api() -> ApiClient:
    """The session's client; asks for an API key when none is configured."""
    if "api_key" not in st.session_state:
        import os

        st.session_state.api_key = os.environ.get("FORESIGHT_API_KEY", "")
    with st.sidebar:
        key = st.text_input(
            "API key",
            value=st.session_state.api_key,
            type="password",
            help="A key from `foresight keys create --role analyst`.",
        )
        st.session_state.api_key = key
    if not key:
        st.info("Enter an API key in the sidebar to load data.")
        st.stop()
    return from_env(key)
