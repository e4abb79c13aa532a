"""The app contract suite: every installed app (churn, sales and the example app of
docs/new-app.md) passes the same checks through public interfaces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from foresight.platform.apps import APP_MODULES, App
from foresight.platform.runtime import Platform
from foresight.platform.schedules import Schedule

ROOT = Path(__file__).parents[2]
APP_NAMES = ["churn", "sales", "restaurant", "delivery", "tips"]


@pytest.fixture(params=APP_NAMES)
def app(request: pytest.FixtureRequest, trained: Platform) -> App:
    return trained.app(request.param)


def test_every_app_folder_has_the_same_shape_and_small_modules(app: App) -> None:
    present = {p.name for p in app.folder.iterdir()}
    assert set(APP_MODULES) <= present, set(APP_MODULES) - present
    assert any(app.migrations.glob("0001_*.py"))
    for module in app.folder.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 420, module


def test_an_app_never_imports_another_app(app: App, trained: Platform) -> None:
    others = {
        other.folder.relative_to(ROOT).as_posix().replace("/", ".")
        for other in trained.apps
        if other.name != app.name
    }
    for module in app.folder.rglob("*.py"):
        tree = ast.parse(module.read_text())
        # Imports only a type checker runs (``if TYPE_CHECKING:``) are no runtime cycle.
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not any(name == o or name.startswith(o + ".") for o in others), (
                    module,
                    name,
                )


def _routes(app: App) -> list[APIRoute]:
    return [r for router in app.routers() for r in router.routes if isinstance(r, APIRoute)]


def test_routes_are_documented_with_response_models(app: App, api: TestClient) -> None:
    spec = api.get("/openapi.json").json()["paths"]
    for route in _routes(app):
        assert route.path.startswith("/api/v1/"), route.path
        # A 204 has no body, so FastAPI forbids it a response model.
        assert route.response_model is not None or route.status_code == 204, route.path
        assert route.tags, route.path
        assert (route.description or "").strip(), f"{route.path} has no docstring"
        for method in route.methods:
            operation = spec[route.path][method.lower()]
            assert operation["security"], route.path
            assert {"200", "201", "202", "204"} & set(operation["responses"]), route.path


def test_routes_are_module_level_functions_not_closures(app: App) -> None:
    for route in _routes(app):
        assert "<locals>" not in route.endpoint.__qualname__, route.endpoint.__qualname__


def test_app_code_never_imports_the_cli_or_the_dashboard(app: App) -> None:
    # apps/*/cli.py used to import foresight.cli, which loads the apps: a cycle kept
    # alive by function-local imports.
    for module in app.folder.rglob("*.py"):
        tree = ast.parse(module.read_text())
        # Imports only a type checker runs (``if TYPE_CHECKING:``) are no runtime cycle.
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("foresight.cli", "foresight.dashboard.views")), (
                    module,
                    node.module,
                )
                if node.module.startswith("foresight") and node.col_offset > 0:
                    pytest.fail(f"function-local import of {node.module} in {module}")


def test_every_route_refuses_a_missing_and_a_wrong_key(app: App, api: TestClient) -> None:
    for route in _routes(app):
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods:
            for headers in ({}, {"X-API-Key": "fs_nope_nope"}):
                r = api.request(method, path, headers=headers)
                assert r.status_code == 401, (method, path, r.status_code)


def test_health_lists_every_model_of_the_app(app: App, api: TestClient) -> None:
    components = api.get("/health").json()["components"]
    for spec in app.models():
        entry = components[f"model:{spec.name}"]
        assert entry["ok"] and entry["app"] == app.name


def test_models_carry_the_headline_metrics_the_app_declares(
    app: App, api: TestClient, keys: dict
) -> None:
    versions = api.get("/api/v1/models", headers=keys["analyst"]).json()
    for spec in app.models():
        mine = [v for v in versions if v["model"] == spec.name and v["stage"] == "production"]
        assert mine and mine[0]["app"] == app.name
        labels = [h["label"] for h in mine[0]["headline"]]
        assert labels == [h.label for h in spec.headline]
        assert all(isinstance(h["value"], float) for h in mine[0]["headline"])


def test_each_model_is_scheduled_as_its_app_declares(app: App, trained: Platform) -> None:
    tasks = {t.name: t.schedule for t in trained.scheduler.status()}
    for spec in app.models():
        assert tasks[f"train:{spec.name}"] == str(Schedule.parse(spec.schedule))


def test_each_app_task_is_scheduled_as_declared(app: App, trained: Platform) -> None:
    tasks = {t.name: t.schedule for t in trained.scheduler.status()}
    declared = app.tasks()
    assert len({spec.name for spec in declared}) == len(declared), "task names repeat"
    for spec in declared:
        assert spec.title.strip() and ":" not in spec.name, spec
        assert tasks[f"{app.name}:{spec.name}"] == str(Schedule.parse(spec.schedule))


def test_health_shows_each_component_the_app_reports(
    app: App, api: TestClient, trained: Platform
) -> None:
    components = api.get("/health").json()["components"]
    for key, entry in app.health(trained).items():
        assert isinstance(entry["ok"], bool), (key, entry)
        assert components[f"{app.name}:{key}"]["ok"] is entry["ok"]
        assert components[f"{app.name}:{key}"]["app"] == app.name


def test_page_renders_against_the_live_api(
    app: App, live_api: str, trained: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = trained.keys.create(name="contract", role="analyst")
    monkeypatch.setenv("FORESIGHT_API_URL", live_api)
    monkeypatch.setenv("FORESIGHT_API_KEY", key)
    at = AppTest.from_file(str(app.page), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == app.title


def _app_keys(text: str, names: list[str]) -> list[tuple[int, str]]:
    """String literals in code (not docstrings) that name an app: the name alone or as a
    key's prefix ("churn", "delivery:…", "sales_…", "restaurant.…"). That is how code
    would special-case an app; the same word in prose (a webhook "delivery") is not."""
    tree = ast.parse(text)
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    pattern = re.compile(rf"^({'|'.join(map(re.escape, names))})([_:./-]|$)")
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and pattern.match(node.value)
    )


def test_the_platform_layers_never_name_or_import_an_app(trained: Platform) -> None:
    names = [a.name for a in trained.apps]
    layers = ["foresight/platform", "foresight/api", "foresight/cli", "foresight/dashboard"]
    modules = [m for layer in layers for m in (ROOT / layer).rglob("*.py")]
    modules += [ROOT / "foresight" / "forecast_cli.py", ROOT / "foresight" / "__main__.py"]
    for module in modules:
        text = module.read_text()
        hits = [f"{module.relative_to(ROOT)}:{i}: {v!r}" for i, v in _app_keys(text, names)]
        assert not hits, hits
        for node in ast.walk(ast.parse(text)):
            imported = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            imported += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n.startswith("foresight.apps") for n in imported), (module, imported)


def test_the_app_name_check_finds_keys_and_not_prose() -> None:
    code = (
        '"""Churn and delivery in prose."""\n'
        'A = "churn"\nB = f"delivery:{x}"\nC = "sales_total"\n'
        'D = "a delivery is one send"\nE = "X-Foresight-Delivery"\nF = "churned"\n'
    )
    found = _app_keys(code, ["churn", "delivery", "sales"])
    assert found == [(2, "churn"), (3, "delivery:"), (4, "sales_total")]


def test_app_settings_come_from_their_own_prefix(app: App, monkeypatch) -> None:
    prefix = f"FORESIGHT_{app.name.upper()}_"
    assert app.settings_class.model_config.get("env_prefix") == prefix
    field = next(n for n in app.settings_class.model_fields if n.endswith("_schedule"))
    monkeypatch.setenv(prefix + field.upper(), "daily 04:15")
    assert getattr(app.settings_class(), field) == "daily 04:15"
    assert next(s.schedule for s in type(app)().models()) == "daily 04:15"
