"""The dashboard: `streamlit run app/streamlit_app.py`. One router; the pages are in views/
(not pages/: from a pages/ folder Streamlit builds a sidebar of its own on a direct page URL).

Reads the marts and the engine's status relations over the PostgreSQL protocol (app/db.py):
the embedded engine by default, a real Materialize when EDDY_* / secrets point there.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

started = time.perf_counter()  # the run's start, for DASHBOARD_TIMINGS

import streamlit as st  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts app/ first; the package root must win
    sys.path.insert(0, str(ROOT))

from app import db, ui  # noqa: E402

PAGES = Path(__file__).resolve().parent / "views"

# Streamlit's own favicon: a Material icon here would be fetched from fonts.gstatic.com
st.set_page_config(page_title="Shop analytics", layout="wide")

nav = st.navigation([
    st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page(PAGES / "traffic.py", title="Traffic", icon=":material/traffic:"),
    st.Page(PAGES / "funnel.py", title="Funnel", icon=":material/filter_alt:"),
    st.Page(PAGES / "fraud.py", title="Fraud", icon=":material/policy:"),
    st.Page(PAGES / "scoring.py", title="Fraud scoring", icon=":material/gpp_maybe:"),
    st.Page(PAGES / "operations.py", title="Operations", icon=":material/build:"),
])
st.sidebar.caption(f"Engine: `{db.settings().address}` · database `{db.settings().dbname}`")
nav.run()
ui.timing("streamlit_app.run", started)
