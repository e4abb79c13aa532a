"""Serving runtime: models loaded once per version, hot-swapped on promotion, with a
fallback chain production → previous production → rule baseline → default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from foresight.platform.errors import NoModelAvailable
from foresight.platform.registry import ModelRegistry, ModelVersion

log = structlog.get_logger(__name__)

FALLBACK_LEVELS = ("previous_production", "rule_baseline", "default")


@dataclass(frozen=True)
class Served:
    """The model that answers, the version it names, and which fallback (if any) it is."""

    model: Any
    version: ModelVersion | None
    fallback: str | None

    @property
    def label(self) -> str:
        if self.version is None:
            return "default"
        suffix = "+rule" if self.fallback == "rule_baseline" else ""
        return self.version.label + suffix

    @property
    def cache_tag(self) -> str:
        """The part of a cache key that names who answers (``v3``, ``v3rule_baseline``,
        ``v0default``): a promotion or a fallback makes older answers unreachable."""
        version = self.version.version if self.version else 0
        return f"v{version}{self.fallback or ''}"


RuleFactory = Callable[[ModelVersion], Any]
DefaultFactory = Callable[[], Any]


class ModelServer:
    def __init__(
        self,
        registry: ModelRegistry,
        *,
        pointer_ttl: float = 1.0,
        on_fallback: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.pointer_ttl = pointer_ttl
        self.on_fallback = on_fallback or (lambda model, level: None)
        self.clock = clock
        self._models: dict[int, Any] = {}  # model version id -> loaded model
        self._broken: set[int] = set()
        self._pointers: dict[str, tuple[float, ModelVersion | None, ModelVersion | None]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def invalidate(self, name: str | None = None) -> None:
        """Forget the production pointer (called on promotion/rollback in this process)."""
        with self._lock:
            if name is None:
                self._pointers.clear()
            else:
                self._pointers.pop(name, None)

    def _pointer(self, name: str) -> tuple[ModelVersion | None, ModelVersion | None]:
        """Production and previous production, refreshed stale-while-revalidate.

        A request never waits for the registry once a pointer is known: past the TTL it
        is served the cached pointer while one background thread re-reads it.
        """
        now = self.clock()
        cached = self._pointers.get(name)
        if cached is None:
            return self._refresh(name)
        if now - cached[0] >= self.pointer_ttl and name not in self._refreshing:
            with self._lock:
                if name not in self._refreshing:
                    self._refreshing.add(name)
                    threading.Thread(target=self._refresh, args=(name,), daemon=True).start()
        return cached[1], cached[2]

    def _refresh(self, name: str) -> tuple[ModelVersion | None, ModelVersion | None]:
        try:
            prod = self.registry.production(name)
            prev = self.registry.previous_production(name)
            with self._lock:
                self._pointers[name] = (self.clock(), prod, prev)
            return prod, prev
        finally:
            self._refreshing.discard(name)

    def warm(self, name: str) -> None:
        """Load the production model now, so the first request does not pay for it."""
        prod, _ = self._refresh(name)
        if prod is not None:
            self._load(prod)

    def _load(self, mv: ModelVersion) -> Any | None:
        model = self._models.get(mv.id)
        if model is not None:
            return model
        if mv.id in self._broken:
            return None
        try:
            model = self.registry.load(mv)
        except Exception as exc:
            log.error("model_load_failed", model=mv.label, error=str(exc))
            with self._lock:
                self._broken.add(mv.id)
            return None
        with self._lock:
            self._models[mv.id] = model
        return model

    def resolve(
        self, name: str, *, rule: RuleFactory | None = None, default: DefaultFactory | None = None
    ) -> Served:
        """The best model that can answer now, walking the fallback chain."""
        prod, prev = self._pointer(name)
        if prod is not None:
            model = self._load(prod)
            if model is not None:
                return Served(model, prod, None)
        if prev is not None:
            model = self._load(prev)
            if model is not None:
                self.on_fallback(name, "previous_production")
                return Served(model, prev, "previous_production")
        anchor = prod or prev
        if anchor is not None and rule is not None and anchor.fallback:
            self.on_fallback(name, "rule_baseline")
            return Served(rule(anchor), anchor, "rule_baseline")
        if default is not None:
            self.on_fallback(name, "default")
            return Served(default(), None, "default")
        raise NoModelAvailable(
            f"no {name} model is available; train one with `foresight train {name}`"
        )
