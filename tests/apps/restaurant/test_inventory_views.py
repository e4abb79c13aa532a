"""The inventory answer through the CLI command and the dashboard tab, on the RMS of
``test_inventory_api`` (hand-computed: order three packs of cheese, 50 g of basil expire
unused)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from foresight.apps.restaurant.inventory_cli import inventory
from foresight.dashboard.client import ApiClient
from foresight.platform.terminal import PlatformHandle
from tests.apps.restaurant.test_inventory_api import AS_OF, open_shop


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from open_shop(tmp_path, monkeypatch)


def test_the_cli_prints_the_reorder_list_and_the_expiry_warnings(shop: dict[str, Any]) -> None:
    # The command as `foresight restaurant inventory` runs it, on this test's platform.
    cli = typer.Typer()
    cli.command("inventory")(inventory)
    cli.command("noop")(lambda: None)  # two commands: the sub-command name is required
    handle = PlatformHandle(lambda: shop["p"])
    r = CliRunner().invoke(cli, ["inventory", "--service-level", "0.9"], obj=handle)
    assert r.exit_code == 0, r.output
    assert "Reorder list for 2015-05-11 at 90.0% service" in r.output
    assert "Mozzarella" in r.output and "3,000 g" in r.output  # the hand-computed order
    assert "Basil" not in r.output.split("ingredients to order now")[0]  # nothing to order
    assert "1 of 2 ingredients to order now" in r.output
    assert "expires unused: basil batch 2: 50 g of 100 g after 2015-05-11" in r.output
    bad = CliRunner().invoke(cli, ["inventory", "--service-level", "1.5"], obj=handle)
    assert bad.exit_code == 2 and "service-level" in bad.output
    unknown = CliRunner().invoke(cli, ["inventory", "--ingredient", "chese"], obj=handle)
    assert unknown.exit_code == 1 and "did you mean 'cheese'" in unknown.output


# AppTest runs this function's source as a script of its own, so it imports what it uses
# and its annotation stays text.
def _inventory_tab(client: "ApiClient") -> None:  # noqa: UP037
    from foresight.apps.restaurant import page_inventory

    page_inventory.section(client, {})


def test_the_page_lists_the_order_first_and_warns_of_the_expiring_batch(
    shop: dict[str, Any],
) -> None:
    def through_the_app(request: httpx.Request) -> httpx.Response:
        r = shop["client"].request(
            request.method, request.url.raw_path.decode(), headers=dict(request.headers)
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    client = ApiClient(
        "http://testserver",
        shop["keys"]["analyst"]["X-API-Key"],
        transport=httpx.MockTransport(through_the_app),
    )
    at = AppTest.from_function(_inventory_tab, args=(client,), default_timeout=30).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["ingredient"]) == ["Mozzarella", "Basil"]
    assert list(table["order now"]) == [True, False] and list(table["order"]) == [3000.0, 0.0]
    assert [m.value for m in at.metric] == ["1 of 2", "1", AS_OF]
    (warning,) = at.warning
    assert warning.value == ("basil: 50 g of batch 2 (100 g) will expire unused after 2015-05-11.")
    # A stricter service level asks again: under the default link nothing changes but
    # the level the API was asked for.
    at.select_slider[0].set_value(0.99).run()
    assert not at.exception and "default" in at.caption[-1].value
    at.toggle[0].set_value(True).run()
    assert list(at.dataframe[0].value["ingredient"]) == ["Mozzarella"]
