"""The availability model's inputs in words, as a customer-service agent would say them."""

from __future__ import annotations

from datetime import datetime


def factor_text(name: str, value: float, local: datetime, holiday: str | None) -> str:
    """One input in words, as a customer-service agent would say it."""
    day = local.strftime("%A")
    hour = f"{local.hour:02d}:00"
    rate = f"{value:.0%}"
    texts = {
        "rate_dow_hour": f"{day}s around {hour}: {rate} delivered (decayed, shrunk)",
        "rate_daytype_hour": f"{'weekends' if local.weekday() >= 5 else 'weekdays'} around "
        f"{hour}: {rate} delivered",
        "base_rate": f"{day}s in these hours: {rate} delivered so far",
        "rate_customer": f"this customer overall: {rate} delivered",
        "rate_28d": f"last 28 days: {rate} delivered",
        "n_attempts": f"{value:.0f} earlier attempts",
        "days_since_last": f"{value:.0f} days since the last attempt",
        "last_delivered": {
            1.0: "the last attempt was delivered",
            0.0: "the last attempt failed",
        }.get(value, "no earlier attempt"),
        "fails_same_day": f"{value:.0f} failed attempt(s) earlier that day",
        "delivered_same_day": f"{value:.0f} delivery(ies) earlier that day",
        "cal_busy_share": f"calendar busy {rate} of the window",
        "cal_busy_near": "a calendar event within an hour of the window"
        if value
        else "no calendar event near the window",
        "cal_all_day": "an all-day calendar event that day" if value else "no all-day event",
        "cal_known": "the customer's calendar is known" if value else "no calendar to read",
        "holiday": f"public holiday: {holiday}" if value and holiday else "not a public holiday",
        "preferred": "inside a window the customer prefers" if value else "not a preferred window",
        "blocked": "inside a window the customer blocked" if value else "not a blocked window",
        "precip_prob": f"chance of rain {rate}",
        "precip_mm": f"{value:.2f} mm of rain expected",
        "temp_c": f"{value:.0f} °C expected",
        "start_hour": f"starts at {local:%H:%M}",
        "window_hours": f"a {value:g}-hour window",
        "weekday": f"a {day}",
        "weekend": "a weekend day" if value else "a weekday",
    }
    if name.startswith("type_"):
        kind = name.removeprefix("type_").replace("_", " ")
        return f"household type: {kind}" if value else f"household type is not {kind}"
    return texts.get(name, f"{name} = {value:g}")
