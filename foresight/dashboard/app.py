"""Dashboard entry point: the system page, then one page per registered app."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from foresight.apps import load_all

VIEWS = Path(__file__).parent / "views"  # not "pages/": Streamlit would list it on its own

st.set_page_config(page_title="Foresight", layout="wide")
pages = [
    st.Page(str(VIEWS / "system.py"), title="System", icon=":material/monitor_heart:", default=True)
]
pages += [
    st.Page(str(spec.dashboard_page), title=spec.title, url_path=spec.name)
    for spec in load_all()
    if spec.dashboard_page is not None
]
st.navigation(pages).run()
