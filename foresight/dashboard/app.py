"""Dashboard entry point: the system page, then each installed app's own page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from foresight.platform.apps import load_apps
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
    st.Page(str(app.page), title=app.title, url_path=app.name)
    for app in load_apps(Settings().apps)
    if app.page.exists()
]
st.navigation(pages).run()
