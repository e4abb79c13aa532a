"""Where the restaurant's data lives in its management system (RMS): logical tables and
columns mapped to physical ones, in one place.

Defaults are the demo RMS's names, so the demo needs no mapping. An RMS with other names
gets a TOML or JSON file (``FORESIGHT_RESTAURANT_RMS_MAPPING``) that overrides only what
differs, e.g.::

    [orders]
    table = "pos.orders_order"
    order_id = "id"
    ordered_at = "created_at"
    updated_at = "modified_at"

SQL is built from this with ``sqlalchemy.table()``/``column()`` only, so identifiers are
quoted and nothing from the mapping is ever pasted into SQL text.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError
from sqlalchemy import Column, TableClause, column, table

from foresight.platform.errors import InvalidInput


class TableMap(BaseModel):
    """One logical table: its physical name (``schema.table`` allowed) and columns."""

    model_config = ConfigDict(extra="forbid")

    table: str
    _clause: TableClause | None = PrivateAttr(default=None)

    def physical(self) -> TableClause:
        """The table as a SQLAlchemy clause with every mapped column (one object, so
        every column of a query comes from the same FROM)."""
        if self._clause is None:
            schema, _, name = self.table.rpartition(".")
            cols = [column(c) for c in self.mapped_columns().values()]
            self._clause = table(name, *cols, schema=schema or None)
        return self._clause

    def mapped_columns(self) -> dict[str, str]:
        """Logical name -> physical name of every mapped (non-None) column."""
        return {
            k: v
            for k, v in self.model_dump().items()
            if k not in ("table", "exclude_status") and isinstance(v, str)
        }

    def col(self, logical: str) -> Column[Any]:
        """The physical column of a logical one (a mapped column only)."""
        name = self.mapped_columns().get(logical)
        if name is None:
            raise KeyError(f"{self.table}: {logical} is not mapped")
        return self.physical().c[name]


class OrdersMap(TableMap):
    table: str = "orders"
    order_id: str = "order_id"
    ordered_at: str = "ordered_at"
    updated_at: str | None = "updated_at"
    customer_id: str | None = "customer_id"
    channel: str | None = "channel"
    status: str | None = "status"
    exclude_status: list[str] = ["cancelled", "void"]
    delivery_distance: str | None = "delivery_distance"
    delivered_at: str | None = "delivered_at"
    restaurant_id: str | None = "restaurant_id"


class OrderItemsMap(TableMap):
    table: str = "order_items"
    order_item_id: str = "order_item_id"
    order_id: str = "order_id"
    item_id: str = "item_id"
    quantity: str = "quantity"
    size: str | None = "size"
    unit_price: str | None = "unit_price"


class StationsMap(TableMap):
    table: str = "order_item_stations"
    order_item_id: str = "order_item_id"
    station_id: str = "station_id"
    started_at: str = "started_at"
    finished_at: str = "finished_at"


class CustomersMap(TableMap):
    table: str = "customer_profiles"
    customer_id: str = "customer_id"
    created_at: str | None = "created_at"


class MenuMap(TableMap):
    table: str = "menu_items"
    item_id: str = "item_id"
    name: str = "name"
    category: str = "category"
    size: str | None = "size"
    price: str | None = "price"


class RecipesMap(TableMap):
    table: str = "recipes"
    item_id: str = "item_id"
    ingredient_id: str = "ingredient_id"
    quantity: str = "quantity"
    size: str | None = "size"


class IngredientsMap(TableMap):
    table: str = "inventory_items"
    ingredient_id: str = "ingredient_id"
    name: str = "name"
    unit: str = "unit"
    supplier_lead_time_days: str | None = "supplier_lead_time_days"
    shelf_life_days: str | None = "shelf_life_days"
    pack_size: str | None = "pack_size"
    min_order_qty: str | None = "min_order_qty"


class BatchesMap(TableMap):
    table: str = "inventory_batches"
    batch_id: str = "batch_id"
    ingredient_id: str = "ingredient_id"
    expires_at: str = "expires_at"
    quantity_remaining: str = "quantity_remaining"
    received_at: str | None = "received_at"
    quantity_received: str | None = "quantity_received"


class PaymentsMap(TableMap):
    table: str = "payments"
    order_id: str = "order_id"
    amount: str = "amount"
    payment_id: str | None = "payment_id"
    method: str | None = "method"
    paid_at: str | None = "paid_at"


class RmsMapping(BaseModel):
    """Every logical table of the RMS. ``recipes`` and ``payments`` may be absent (None):
    recipes can then be imported (``foresight import restaurant``)."""

    model_config = ConfigDict(extra="forbid")

    orders: OrdersMap = OrdersMap()
    order_items: OrderItemsMap = OrderItemsMap()
    order_item_stations: StationsMap | None = StationsMap()
    customer_profiles: CustomersMap | None = CustomersMap()
    menu_items: MenuMap = MenuMap()
    recipes: RecipesMap | None = RecipesMap()
    inventory_items: IngredientsMap | None = IngredientsMap()
    inventory_batches: BatchesMap | None = BatchesMap()
    payments: PaymentsMap | None = PaymentsMap()

    @classmethod
    def load(cls, path: Path | None = None, text: str | None = None) -> RmsMapping:
        """The mapping from a TOML or JSON file (or JSON text); defaults when neither."""
        raw: dict[str, Any] = {}
        try:
            if path is not None:
                data = path.read_bytes()
                raw = (
                    json.loads(data)
                    if path.suffix.lower() == ".json"
                    else tomllib.loads(data.decode())
                )
            elif text:
                raw = json.loads(text)
        except FileNotFoundError:
            raise InvalidInput(f"RMS mapping file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"RMS mapping {path or 'JSON'} cannot be read: {exc}") from None
        # A table given as `false` (or null) means "this RMS has no such table".
        raw = {k: (None if v is False else v) for k, v in raw.items()}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                if err["type"] == "extra_forbidden":
                    problems.append(f"{where}: unknown key (allowed: {_allowed(err['loc'])})")
                else:
                    problems.append(f"{where}: {err['msg']}")
            raise InvalidInput("RMS mapping: " + "; ".join(problems)) from None

    def tables(self) -> dict[str, TableMap]:
        """The mapped logical tables by logical name."""
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if getattr(self, name) is not None
        }

    def check(self, columns: dict[str, list[str]]) -> list[str]:
        """Problems of this mapping against the RMS's reflected columns (table -> names),
        one line each; empty when every mapped table and column exists."""
        problems = []
        for logical, spec in self.tables().items():
            found = columns.get(spec.table)
            if found is None:
                known = ", ".join(sorted(columns)[:12]) or "none"
                problems.append(f'{logical} → table "{spec.table}" not found (has: {known})')
                continue
            for col_name, physical in spec.mapped_columns().items():
                if physical not in found:
                    problems.append(
                        f'{logical}.{col_name} → column "{physical}" not found in '
                        f'"{spec.table}" (has: {", ".join(found)})'
                    )
        return problems

    def without_missing_optional(self, columns: dict[str, list[str]]) -> RmsMapping:
        """This mapping with optional columns the RMS lacks unmapped (a default mapping
        on an RMS without ``updated_at``, say); required ones are left for ``check``."""
        data = self.model_dump()
        for logical, spec in self.tables().items():
            found = set(columns.get(spec.table, ()))
            fields = type(spec).model_fields
            for col_name, physical in spec.mapped_columns().items():
                optional = fields[col_name].annotation != str  # noqa: E721
                if optional and physical not in found:
                    data[logical][col_name] = None
        return type(self).model_validate(data)

    def digest(self) -> str:
        """A short hash of the mapping: a changed mapping forces a full re-sync."""
        text = json.dumps(self.model_dump(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _allowed(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = RmsMapping
    for part in loc[:-1]:
        annotation = model.model_fields[str(part)].annotation
        args = getattr(annotation, "__args__", (annotation,))
        model = next(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))
    return ", ".join(model.model_fields)
