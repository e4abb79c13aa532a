"""The registry of apps. Apps register here; the API, CLI and dashboard iterate it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter
    from typer import Typer

    from foresight.platform.runtime import Platform
    from foresight.platform.training import Progress, TrainingOutcome


@dataclass
class ImportResult:
    rows: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AppSpec:
    """What an app declares to the platform. Every callable takes the :class:`Platform`."""

    name: str
    title: str
    description: str
    migrations: Path
    router: Callable[[Platform], APIRouter]
    train: Callable[[Platform, Progress], TrainingOutcome]
    load_demo: Callable[[Platform, Progress], ImportResult]
    import_file: Callable[..., ImportResult]
    predict_file: Callable[..., dict[str, Any]] | None = None
    cli: Typer | None = None
    dashboard_page: Path | None = None
    on_start: Callable[[Platform], None] | None = None


_APPS: dict[str, AppSpec] = {}


def register(spec: AppSpec) -> AppSpec:
    _APPS[spec.name] = spec
    return spec


def all_apps() -> list[AppSpec]:
    return list(_APPS.values())


def get_app(name: str) -> AppSpec:
    from foresight.platform.errors import NotFound

    try:
        return _APPS[name]
    except KeyError:
        raise NotFound(f"unknown app {name!r}; installed apps: {', '.join(_APPS)}") from None
