"""Delivery page: the customer table; one customer's profile, their week as a heat map
(predicted and observed, hour × weekday), the best windows of a chosen day, a check of one
window (will the customer be home?), and their attempts and events. Talks to the API only."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from foresight.apps.delivery.schemas_customers import HOUSEHOLD_TYPES
from foresight.dashboard.client import ApiClient, ApiError
from foresight.dashboard.session import api

BASE = "/api/v1/delivery"
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
SHOWN_ATTEMPTS = 500
EVENT_PAGES = 10  # pages of 1,000 events read to reach a customer's latest ones
SHOWN_EVENTS = 200


def customer_section(client: ApiClient) -> str | None:
    """The filterable customer table; returns the picked customer's id."""
    st.subheader("Customers")
    c1, c2 = st.columns(2)
    zone = c1.text_input("Zone", placeholder="all zones, or e.g. Z01", key="zone").strip() or None
    kind = c2.selectbox("Household type", ["all", *HOUSEHOLD_TYPES], key="household_type")
    try:
        rows = client.get(
            f"{BASE}/customers",
            zone=zone,
            household_type=None if kind == "all" else kind,
            limit=1000,
        )
    except ApiError as exc:
        st.error(exc.detail)
        return None
    if not rows:
        st.info("No customer matches these filters.")
        return None
    table = pd.DataFrame(rows)
    table["updated_at"] = pd.to_datetime(table["updated_at"], utc=True).dt.strftime(
        "%Y-%m-%d %H:%M UTC"
    )
    st.dataframe(
        table[["customer_id", "address_zone", "household_type", "timezone", "attempts", "version"]],
        hide_index=True,
        width="stretch",
    )
    st.caption(f"{len(table):,} customers" + (" (the first 1,000)" if len(table) == 1000 else ""))
    # Customers with history first: their heat map has something to show.
    ids = table.sort_values(["attempts", "customer_id"], ascending=[False, True])["customer_id"]
    return str(st.selectbox("Customer", ids.tolist(), key="customer_id"))


def profile_section(customer: dict[str, Any]) -> None:
    """Who the customer is, as the model sees it."""
    c = st.columns(4)
    c[0].metric("Household type", customer["household_type"])
    c[1].metric("Zone", customer["address_zone"])
    c[2].metric("Time zone", customer["timezone"])
    c[3].metric("Attempts", f"{customer['attempts']:,}")
    prefs = customer["preferences"]
    for kind in ("preferred", "blocked"):
        windows = "; ".join(f"{', '.join(w['days'])} {w['start']}–{w['end']}" for w in prefs[kind])
        if windows:
            st.caption(f"{kind.capitalize()} windows (local): {windows}")


def heat_cells(heat: dict[str, Any]) -> pd.DataFrame:
    """The heat map answer as one row per (weekday, hour) cell."""
    rows = []
    for d, day in enumerate(DAYS):
        for hour in heat["hours"]:
            rows.append(
                {
                    "weekday": day,
                    "hour": hour,
                    "predicted": heat["predicted"][d][hour],
                    "observed": heat["observed_rate"][d][hour],
                    "attempts": heat["attempts"][d][hour],
                }
            )
    return pd.DataFrame(rows)


def heat_chart(cells: pd.DataFrame, value: str, title: str) -> alt.Chart:
    """An hour × weekday grid coloured by ``value`` (a share from 0 to 1)."""
    return (
        alt.Chart(cells.dropna(subset=[value]), title=title)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="local hour", scale=alt.Scale(domain=list(range(24)))),
            y=alt.Y("weekday:O", title=None, sort=DAYS, scale=alt.Scale(domain=DAYS)),
            color=alt.Color(
                f"{value}:Q",
                title=value,
                scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen"),
                legend=alt.Legend(format=".0%"),
            ),
            tooltip=[
                "weekday:N",
                "hour:O",
                alt.Tooltip(f"{value}:Q", format=".0%"),
                alt.Tooltip("attempts:Q", title="attempts then"),
            ],
        )
    )


def heatmap_section(client: ApiClient, customer: dict[str, Any]) -> None:
    """The model's week at a glance beside what was observed, hour × weekday."""
    cid, zone = customer["customer_id"], ZoneInfo(customer["timezone"])
    st.subheader("When is this customer home?")
    week_of = st.date_input(
        "Week of", value=datetime.now(zone).date(), key=f"week-{cid}", help="Any day of the week"
    )
    try:
        heat = client.get(
            f"{BASE}/customers/{cid}/heatmap",
            week_of=week_of.isoformat() if isinstance(week_of, date) else None,
        )
    except ApiError as exc:
        st.error(exc.detail)
        return
    cells = heat_cells(heat)
    left, right = st.columns(2)
    left.altair_chart(
        heat_chart(cells, "predicted", f"Predicted, week of {heat['week_of']} (1-hour windows)"),
        width="stretch",
    )
    right.altair_chart(
        heat_chart(cells, "observed", "Observed share delivered (the attempts the model reads)"),
        width="stretch",
    )
    fallback = f", fallback {heat['fallback']}" if heat["fallback"] else ""
    holidays = "; ".join(f"{d} {name}" for d, name in heat["holidays"].items())
    st.caption(
        f"Model {heat['model_version']}{fallback}; local time ({heat['timezone']}). "
        f"{int(cells['attempts'].sum()):,} attempts observed; a cell with one or two says "
        "little." + (f" Holidays that week: {holidays}." if holidays else "")
    )


def history_section(client: ApiClient, customer: dict[str, Any]) -> None:
    """The attempt table, newest first, in the customer's local time."""
    cid, tz = customer["customer_id"], customer["timezone"]
    try:
        rows = client.get(f"{BASE}/customers/{cid}/attempts", limit=SHOWN_ATTEMPTS)
    except ApiError as exc:
        st.error(exc.detail)
        return
    if not rows:
        st.info("No delivery attempts recorded yet: the model answers from its prior.")
        return
    attempts = pd.DataFrame(rows)
    zone = ZoneInfo(tz)

    def local(column: str) -> pd.Series:
        return pd.to_datetime(attempts[column], utc=True).dt.tz_convert(zone)

    shown = pd.DataFrame(
        {
            "attempted": local("attempted_at").dt.strftime("%a %Y-%m-%d %H:%M"),
            "window": local("window_start").dt.strftime("%a %Y-%m-%d %H:%M")
            + " – "
            + local("window_end").dt.strftime("%H:%M"),
            "delivered": attempts["delivered"].astype(bool),
            "reason": attempts["failure_reason"].fillna(""),
            "source": attempts["source"],
        }
    )
    with st.expander(f"Attempts ({len(shown):,}, newest first, local time)"):
        st.dataframe(shown, hide_index=True, width="stretch")


def events_section(client: ApiClient, customer_id: str) -> None:
    """The customer's latest events in the log (the history the tables are built from)."""
    found: list[dict[str, Any]] = []
    since = 0
    try:
        for _ in range(EVENT_PAGES):
            page = client.get(f"{BASE}/customers/{customer_id}/events", since=since, limit=1000)
            found.extend(page)
            if len(page) < 1000:
                break
            since = page[-1]["offset"]
    except ApiError as exc:
        st.error(exc.detail)
        return
    with st.expander(f"Events ({len(found):,}; the latest {SHOWN_EVENTS} first)"):
        if not found:
            st.info("No events.")
            return
        latest = list(reversed(found[-SHOWN_EVENTS:]))
        events = pd.DataFrame(
            {
                "offset": [e["offset"] for e in latest],
                "type": [e["type"] for e in latest],
                "occurred_at": [e["occurred_at"][:19].replace("T", " ") for e in latest],
                "payload": [json.dumps(e["payload"], separators=(",", ":")) for e in latest],
            }
        )
        st.dataframe(events, hide_index=True, width="stretch")


def recommend_section(client: ApiClient, customer: dict[str, Any]) -> None:
    """The best windows of a chosen day, with what was left out and why."""
    cid, zone = customer["customer_id"], ZoneInfo(customer["timezone"])
    st.subheader("Best windows to deliver")
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    with st.form(f"optimal-{cid}"):
        c1, c2, c3 = st.columns(3)
        day = c1.date_input("Day (local)", value=tomorrow)
        minutes = c2.selectbox(
            "Window", [30, 60, 120, 240], index=0, format_func=lambda m: f"{m} min"
        )
        top = c3.number_input("How many", min_value=1, max_value=20, value=5)
        submitted = st.form_submit_button("Recommend windows")
    if submitted and isinstance(day, date):
        body = {
            "customer_id": cid,
            "date": day.isoformat(),
            "window_minutes": minutes,
            "top_k": int(top),
        }
        try:
            st.session_state["optimal"] = client.post(f"{BASE}/predict/optimal-time", json=body)
        except ApiError as exc:
            st.error(exc.detail)
            return
    answer = st.session_state.get("optimal")
    if answer is None or answer["customer_id"] != cid:
        st.caption("Pick a day: the windows come ranked, blocked and busy ones left out.")
        return
    windows = pd.DataFrame(answer["windows"])
    left_out = ", ".join(f"{n} {why}" for why, n in answer["excluded"].items() if n)
    st.caption(
        f"{answer['considered']} windows scored ({answer['timezone']})"
        + (f"; left out: {left_out}" if left_out else "")
        + f" · model {answer['model_version']} · basis {answer['basis']}"
    )
    for warning in answer["warnings"]:
        st.warning(warning)
    if windows.empty:
        return
    windows["window"] = windows["start_local"].str[11:16] + "–" + windows["end_local"].str[11:16]
    st.altair_chart(
        alt.Chart(windows, title="Probability delivered, best first")
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("window:N", sort=None, title=None),
            color=alt.Color("preferred:N", title="preferred"),
            tooltip=["rank:Q", "window:N", alt.Tooltip("probability:Q", format=".1%")],
        ),
        width="stretch",
    )
    st.dataframe(
        windows[["rank", "window", "probability", "preferred", "busy"]],
        hide_index=True,
        width="stretch",
    )


def availability_section(client: ApiClient, customer: dict[str, Any]) -> None:
    """Ask the model about one window in the customer's local time."""
    cid, zone = customer["customer_id"], ZoneInfo(customer["timezone"])
    st.subheader("Will they be home?")
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    with st.form(f"availability-{cid}"):
        c1, c2, c3 = st.columns(3)
        day = c1.date_input("Day (local)", value=tomorrow)
        start = c2.time_input("Window start", value=time(14, 0), step=timedelta(minutes=15))
        minutes = c3.selectbox(
            "Length", [30, 60, 120, 180, 240], index=2, format_func=lambda m: f"{m} min"
        )
        submitted = st.form_submit_button("Check window")
    if submitted and isinstance(day, date):
        begin = datetime.combine(day, start, tzinfo=zone)
        # Across a DST change the window keeps its length in real time, not on the clock.
        end = (begin.astimezone(ZoneInfo("UTC")) + timedelta(minutes=minutes)).astimezone(zone)
        body = {
            "customer_id": cid,
            "window_start": begin.isoformat(),
            "window_end": end.isoformat(),
            "top": 5,
        }
        try:
            st.session_state["availability"] = client.post(
                f"{BASE}/predict/availability", json=body
            )
        except ApiError as exc:
            st.error(exc.detail)
            return
    answer = st.session_state.get("availability")
    if answer is None or answer["customer_id"] != cid:
        st.caption("Pick a window and check it: the answer says how sure it is and why.")
        return
    show_answer(answer)


def show_answer(answer: dict[str, Any]) -> None:
    """Probability, confidence, what it rests on, and the factors behind it."""
    local = answer["window_local"]
    st.caption(
        f"{local['start'][:16].replace('T', ' ')} – {local['end'][11:16]} ({local['timezone']})"
    )
    c = st.columns(3)
    fallback = f" · fallback {answer['fallback']}" if answer["fallback"] else ""
    c[0].metric(
        "Probability delivered",
        f"{answer['probability']:.0%}",
        help=f"model {answer['model_version']}{fallback} · basis {answer['basis']}",
    )
    evidence = answer["evidence"]
    c[1].metric(
        "Confidence",
        answer["confidence"],
        help=f"{evidence['attempts']} attempts, "
        f"{evidence['attempts_near_this_time']:g} near this time (decayed)",
    )
    c[2].metric("Basis", answer["basis"].replace("_", " "))
    for warning in answer["warnings"]:
        st.warning(warning)
    if answer["holiday"]:
        st.caption(f"Public holiday: {answer['holiday']}")
    factors = pd.DataFrame(answer["factors"])
    if factors.empty:
        return
    if (factors["effect"] == 0).all():  # the history rule names its input without effects
        st.dataframe(factors[["text", "value"]], hide_index=True, width="stretch")
        return
    factors["direction"] = factors["effect"].map(lambda v: "raises" if v > 0 else "lowers")
    st.altair_chart(
        alt.Chart(factors, title="What moves the probability (points)")
        .mark_bar()
        .encode(
            x=alt.X("effect:Q", title="effect on the probability"),
            y=alt.Y("text:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
            color=alt.Color(
                "direction:N",
                scale=alt.Scale(domain=["raises", "lowers"], range=["#2ca02c", "#d62728"]),
            ),
            tooltip=["feature:N", "value:Q", alt.Tooltip("effect:Q", format="+.3f")],
        ),
        width="stretch",
    )


st.title("Delivery")
client = api()

try:
    first = client.get(f"{BASE}/customers", limit=1)
except ApiError as exc:
    st.error(exc.detail)
    st.stop()
if not first:
    st.info(
        "No customers yet. Load the demo with `foresight demo`, or import your own: "
        "`foresight import delivery customers.csv --attempts attempts.csv`."
    )
    st.stop()

customer_id = customer_section(client)
if customer_id:
    try:
        customer = client.get(f"{BASE}/customers/{customer_id}")
    except ApiError as exc:
        st.error(exc.detail)
        st.stop()
    st.subheader(f"Customer {customer_id}")
    profile_section(customer)
    heatmap_section(client, customer)
    recommend_section(client, customer)
    availability_section(client, customer)
    history_section(client, customer)
    events_section(client, customer_id)
