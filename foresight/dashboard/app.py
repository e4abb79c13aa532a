"""Dashboard entry point: the system and models pages, then each installed app's page
(found by file; the dashboard imports no app code and reads data from the API only)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from foresight.platform.apps import app_pages
from foresight.platform.settings import Settings

VIEWS = Path(__file__).parent / "views"  # not "pages/": Streamlit would list it on its own

st.set_page_config(page_title="Foresight", layout="wide")
pages = [
    st.Page(
        str(VIEWS / "system.py"), title="System", icon=":material/monitor_heart:", default=True
    ),
    st.Page(str(VIEWS / "models.py"), title="Models", icon=":material/query_stats:"),
]
pages += [
    st.Page(str(page), title=name.replace("_", " ").title(), url_path=name)
    for name, page in app_pages(Settings().apps)
]
st.navigation(pages).run()
