"""The apps. ``load_all()`` imports each one, which registers it with the platform."""

from __future__ import annotations

import importlib

from foresight.platform.apps import AppSpec, all_apps

INSTALLED = ("churn", "sales")


def load_all() -> list[AppSpec]:
    for name in INSTALLED:
        importlib.import_module(f"foresight.apps.{name}")
    return all_apps()
