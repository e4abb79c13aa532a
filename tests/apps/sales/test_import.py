"""Sales imports: validation errors name the problem and leave the stored data as it was."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from foresight.apps.sales.service import SalesService
from foresight.platform.errors import InvalidInput
from foresight.platform.runtime import Platform

START = pd.Timestamp("2024-01-01")


def tx(n_days: int = 70, products: tuple[str, ...] = ("a", "b")) -> pd.DataFrame:
    rows = []
    for d in range(n_days):
        for i, p in enumerate(products):
            rows.append(
                {
                    "product_id": p,
                    "category": "x" if i == 0 else "y",
                    "sold_at": f"{START + pd.Timedelta(days=d):%Y-%m-%d} 12:00",
                    "quantity": 1 + (d % 7 == 5) * 3 + i,
                    "revenue": 10.0 * (1 + i),
                }
            )
    return pd.DataFrame(rows)


def count(platform: Platform) -> int:
    return len(platform.service_of(SalesService).store.daily())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["sold_at"]), "missing column(s) sold_at"),
        (lambda f: f.assign(sold_at=["soon", *list(f["sold_at"][1:])]), "sold_at is not a date"),
        (
            lambda f: f.assign(quantity=["many", *list(f["quantity"][1:])]),
            "quantity is not a number",
        ),
        (lambda f: f.assign(quantity=-f["quantity"]), "quantity is negative"),
        (lambda f: f.iloc[:0], "no transactions"),
    ],
)
def test_bad_transactions_are_rejected_and_nothing_changes(
    platform: Platform, mutate, message: str
) -> None:
    service = platform.service_of(SalesService)
    service.import_frame(tx(), source="good")
    before = count(platform)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.import_frame(mutate(tx(5)), source="bad")
    assert count(platform) == before


def test_import_aggregates_per_day_and_append_adds(platform: Platform) -> None:
    service = platform.service_of(SalesService)
    frame = tx(10)
    doubled = pd.concat([frame, frame.assign(quantity=1.0, revenue=1.0)])
    result = service.import_frame(doubled, source="t")
    assert result.rows == 40
    daily = service.store.daily()
    assert len(daily) == 20  # 2 products × 10 days
    first = daily[(daily["product_id"] == "a") & (daily["day"] == "2024-01-01")].iloc[0]
    assert first["units"] == 2.0 and first["revenue"] == 11.0
    service.import_frame(tx(1).assign(sold_at="2024-01-11 09:00"), source="t", mode="append")
    assert len(service.store.daily()) == 22


def test_training_needs_enough_history(platform: Platform) -> None:
    service = platform.service_of(SalesService)
    service.import_frame(tx(20), source="short")
    with pytest.raises(InvalidInput, match="20 days of sales history"):
        service.dataset()


def test_regressors_are_joined_by_day_and_bad_ones_rejected(platform: Platform) -> None:
    service = platform.service_of(SalesService)
    service.import_frame(tx(70), source="t")
    days = pd.date_range("2023-12-01", periods=40, freq="W")
    reg = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "cpi": range(40)})
    service.import_regressors(reg, source="fred", actor="t")
    data = service.dataset().series
    assert data.exogenous == ["cpi"]
    # As-of join: each day carries the latest weekly value known on that day.
    row = data.data[(data.data["unique_id"] == "product:a") & (data.data["ds"] == "2024-01-02")]
    assert float(row["cpi"].iloc[0]) == float(reg.loc[days <= "2024-01-02", "cpi"].iloc[-1])
    with pytest.raises(InvalidInput, match="cpi is not a number"):
        service.import_regressors(reg.assign(cpi=["x"] * 40), source="bad", actor="t")
    with pytest.raises(InvalidInput, match="date column"):
        service.import_regressors(reg[["cpi"]], source="bad", actor="t")


def test_cli_import_reports_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from foresight.cli import app

    monkeypatch.setenv("FORESIGHT_DATA_DIR", str(tmp_path / "data"))
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    tx(40).to_csv(good, index=False)
    tx(5).drop(columns=["quantity"]).to_csv(bad, index=False)
    runner = CliRunner()
    r = runner.invoke(app, ["import", "sales", str(bad)])
    assert r.exit_code == 1 and "missing column(s) quantity" in r.output
    r = runner.invoke(app, ["import", "sales", str(good)])
    assert r.exit_code == 0, r.output
    assert "80 transactions (replace) for 2 products" in r.output


def test_a_new_product_without_a_category_is_refused_not_filed_under_none(
    platform: Platform,
) -> None:
    service = platform.service_of(SalesService)
    service.import_frame(tx(10), source="t")
    new = tx(1, products=("c", "d")).assign(category=[None, "y"])
    with pytest.raises(InvalidInput, match=r"new product\(s\) c need a category"):
        service.import_frame(new, source="t", mode="append")
    assert "None" not in service.store.categories()  # it used to be stored as "None"
    # A product already known keeps its category when a row leaves it blank.
    service.import_frame(tx(1).assign(category=None), source="t", mode="append")
    assert service.store.products()["a"]["category"] == "x"


def test_rows_that_leave_a_products_category_or_name_blank_take_the_given_one(
    platform: Platform,
) -> None:
    service = platform.service_of(SalesService)
    frame = tx(3, products=("a",)).assign(
        category=[None, "x", None], product_name=[None, None, "Apple"]
    )
    service.import_frame(frame, source="t")  # was "appear in several categories"
    assert service.store.products()["a"] == {"name": "Apple", "category": "x"}
    assert service.store.categories() == ["x"]


@pytest.mark.parametrize(
    ("column", "limit"),
    [("product_id", 100), ("category", 100), ("product_name", 200), ("order_id", 100)],
)
def test_text_longer_than_its_column_is_refused_naming_the_rows(
    tmp_path: Path, db_url: str, column: str, limit: int
) -> None:
    from tests.conftest import make_settings

    platform = Platform.create(make_settings(tmp_path, database_url=db_url))
    try:
        service = platform.service_of(SalesService)
        frame = tx(3)
        frame[column] = frame.get(column)
        b = frame["product_id"] == "b"  # rows 3, 5, 7 of the file
        frame.loc[b, column] = "z" * (limit + 1)
        message = rf"{column} is longer than {limit} characters in row\(s\) 3, 5, 7"
        with pytest.raises(InvalidInput, match=message):  # a DataError (500) on PostgreSQL
            service.import_frame(frame, source="t")
        frame.loc[b, column] = "z" * limit
        assert service.import_frame(frame, source="t").rows == 6
    finally:
        platform.close()
