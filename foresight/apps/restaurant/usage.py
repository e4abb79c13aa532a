"""Ingredient usage from item units: item series in any shape as days × items, recipes
spelled out per size, and usage per ingredient and day (the demand forecast × recipes
that inventory advice and its calibration share)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from foresight.apps.restaurant.reorder import usage_forecast


def item_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Item units as days × item_id, zero-filled, from wide (DatetimeIndex × item_id), long
    (item_id, day, quantity) or demand series (unique_id, ds, y; ``items:item:<id>`` only)."""
    if "unique_id" in frame.columns:
        ids = frame["unique_id"].astype(str)
        frame = frame.assign(item_id=ids.str[11:], day=frame["ds"], quantity=frame["y"])
        frame = frame[ids.str.startswith("items:item:")]
    if {"item_id", "day", "quantity"} <= set(frame.columns):
        frame = frame.pivot_table("quantity", "day", "item_id", aggfunc="sum", fill_value=0.0)
    wide = frame.astype(float).rename(columns=str).rename_axis(columns=None)
    wide.index = pd.DatetimeIndex(wide.index).normalize()
    if wide.empty:
        return wide
    days = pd.date_range(wide.index.min(), wide.index.max(), freq="D")
    return wide.groupby(level=0).sum().reindex(days, fill_value=0.0)


def spell_sizes(recipes: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """Recipes with size "" copied to each size the item sells or lists; a row for a
    given size wins over the every-size row of the same ingredient."""
    rows = recipes[["item_id", "size", "ingredient_id", "quantity"]].fillna({"size": ""})
    sized = rows[rows["size"] != ""]
    known = pd.concat([shares[["item_id", "size"]], sized[["item_id", "size"]]]).dropna()
    known = known[known["size"] != ""].drop_duplicates()
    every = rows[rows["size"] == ""].drop(columns="size")
    spelled = every.merge(known, on="item_id", how="left").fillna({"size": ""})
    out = pd.concat([sized, spelled], ignore_index=True)  # given sizes first: they win
    return out.drop_duplicates(["item_id", "size", "ingredient_id"]).reset_index(drop=True)


def usage_wide(
    items: pd.DataFrame, shares: pd.DataFrame, recipes: pd.DataFrame, ingredients: list[str]
) -> pd.DataFrame:
    """Days × ingredients: usage of item units (days × items) through the recipes."""
    long = items.rename_axis(index="day", columns="item_id").stack().rename("quantity")
    used = usage_forecast(long.reset_index(), shares, recipes)
    wide = used.pivot_table("quantity", "day", "ingredient_id", aggfunc="sum", fill_value=0.0)
    return wide.reindex(index=items.index, columns=ingredients, fill_value=0.0).fillna(0.0)


def usage_ahead(
    item_daily: pd.DataFrame, shares: pd.DataFrame, recipes: pd.DataFrame, today: date, days: int
) -> dict[str, list[float]]:
    """Usage per ingredient over ``days`` days from ``today`` (first), from an item forecast
    in any shape :func:`item_wide` reads; days it does not cover count 0."""
    wanted = pd.date_range(pd.Timestamp(today), periods=days, freq="D")
    full = spell_sizes(recipes, shares)
    names = sorted(full["ingredient_id"].astype(str).unique())
    usage = usage_wide(item_wide(item_daily).reindex(wanted, fill_value=0.0), shares, full, names)
    return {str(c): usage[c].tolist() for c in usage.columns}
