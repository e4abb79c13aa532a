"""The RMS table mapping: defaults, files, unknown keys and quoting of odd names."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from foresight.apps.restaurant.mapping import RmsMapping
from foresight.platform.errors import InvalidInput


def test_a_toml_file_overrides_only_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "rms.toml"
    path.write_text('[orders]\ntable = "pos.orders_order"\nordered_at = "created_at"\n')
    mapping = RmsMapping.load(path)
    assert mapping.orders.table == "pos.orders_order"
    assert mapping.orders.ordered_at == "created_at"
    assert mapping.orders.order_id == "order_id"  # default kept
    assert mapping.digest() != RmsMapping().digest()


def test_unknown_keys_are_refused_naming_the_allowed_ones(tmp_path: Path) -> None:
    path = tmp_path / "rms.json"
    path.write_text('{"orders": {"odered_at": "x"}}')
    with pytest.raises(InvalidInput) as err:
        RmsMapping.load(path)
    assert "orders.odered_at: unknown key" in err.value.message
    assert "ordered_at" in err.value.message


def test_an_optional_table_can_be_absent_and_a_missing_file_is_named(tmp_path: Path) -> None:
    assert RmsMapping.load(text='{"recipes": false}').recipes is None
    with pytest.raises(InvalidInput, match="does not exist"):
        RmsMapping.load(tmp_path / "nope.toml")


def test_identifiers_are_quoted_never_pasted() -> None:
    mapping = RmsMapping.load(text='{"orders": {"table": "my orders", "order_id": "order"}}')
    sql = str(select(mapping.orders.col("order_id")).compile())
    assert '"order"' in sql and '"my orders"' in sql


def test_check_lists_every_problem_at_once() -> None:
    mapping = RmsMapping()
    columns = {t.table: list(t.mapped_columns().values()) for t in mapping.tables().values()}
    assert mapping.check(columns) == []
    columns["orders"].remove("ordered_at")
    del columns["menu_items"]
    problems = mapping.check(columns)
    assert len(problems) == 2
