"""Choosing a backend by a type string: a built-in name, or ``package.module:Class`` for
your own implementation of the same interface (the Feast pattern)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def backend(registry: Mapping[str, T], kind: str, what: str) -> T:
    """The factory ``kind`` names: a key of ``registry`` or a ``module:attribute`` path.

    >>> backend({"memory": dict}, "memory", "cache") is dict
    True
    >>> backend({}, "collections:OrderedDict", "cache").__name__
    'OrderedDict'
    """
    if kind in registry:
        return registry[kind]
    if ":" in kind:
        module, _, attribute = kind.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot load the {what} backend {kind!r}: {exc}") from None
    raise ValueError(
        f"unknown {what} backend {kind!r}; choose one of {', '.join(registry)} "
        "or give your own as package.module:Class"
    )
