"""Dashboard entry point: one page per app, plus system health and models."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="Foresight", layout="wide")
nav = st.navigation(
    [
        st.Page(
            str(PAGES / "system.py"), title="System", icon=":material/monitor_heart:", default=True
        ),
        st.Page(str(PAGES / "churn.py"), title="Churn", icon=":material/person_remove:"),
    ]
)
nav.run()
