"""The :class:`Platform`: every platform service, built once per process from settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from foresight.platform.apps import AppSpec
from foresight.platform.artifacts import LocalArtifactStore
from foresight.platform.auth import KeyStore
from foresight.platform.cache import MemoryCache, RedisCache, TieredCache
from foresight.platform.db import migrate
from foresight.platform.db.engine import Database
from foresight.platform.db.tables import AuditRow
from foresight.platform.jobs import JobQueue
from foresight.platform.monitoring import Metrics
from foresight.platform.notify import Notifier
from foresight.platform.ratelimit import RateLimiter
from foresight.platform.registry import ModelRegistry
from foresight.platform.serving import ModelServer
from foresight.platform.settings import Settings
from foresight.platform.training import TrainingContext, TrainingPipeline, no_progress


@dataclass
class Platform:
    settings: Settings
    db: Database
    registry: ModelRegistry
    cache: TieredCache
    keys: KeyStore
    limiter: RateLimiter
    metrics: Metrics
    notifier: Notifier
    jobs: JobQueue
    server: ModelServer
    pipeline: TrainingPipeline
    redis: Any | None = None
    # Per-app service objects, created once per process by each app (see service_for).
    services: dict[str, Any] = field(default_factory=dict)
    _services_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(
        cls,
        settings: Settings,
        apps: Iterable[AppSpec] = (),
        *,
        migrate_db: bool = True,
        notifier: Notifier | None = None,
    ) -> Platform:
        """Build every service and run migrations (job recovery is the API process's job)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        apps = list(apps)
        if migrate_db:
            migrate.upgrade(db, [a.migrations for a in apps])
        metrics = Metrics()
        registry = ModelRegistry(db, LocalArtifactStore(settings.artifacts_dir))
        # Short timeouts: a slow or absent Redis must cost a request milliseconds, not seconds.
        client = (
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            if settings.redis_url
            else None
        )
        l2 = RedisCache(client, settings.redis_prefix + "cache:") if client is not None else None
        cache = TieredCache(MemoryCache(), l2, on_lookup=metrics.on_cache_lookup)
        limiter = RateLimiter(
            settings.rate_limit,
            settings.redis_url or "memory://",
            prefix=settings.redis_prefix + "ratelimit",
        )
        notifier = notifier or Notifier(
            db,
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            on_result=lambda status: metrics.webhooks.labels(status).inc(),
        )
        jobs = JobQueue(
            db, on_finish=lambda job: metrics.jobs.labels(job.app, job.kind, job.status).inc()
        )
        server = ModelServer(
            registry,
            pointer_ttl=settings.production_pointer_ttl,
            on_fallback=lambda m, level: metrics.fallbacks.labels(m, level).inc(),
        )
        pipeline = TrainingPipeline(db, registry, announce=notifier.publish)
        return cls(
            settings=settings,
            db=db,
            registry=registry,
            cache=cache,
            keys=KeyStore(db),
            limiter=limiter,
            metrics=metrics,
            notifier=notifier,
            jobs=jobs,
            server=server,
            pipeline=pipeline,
            redis=client,
        )

    def service(self, name: str, factory: Callable[[Platform], Any]) -> Any:
        """The app service ``name`` of this process, created by ``factory`` on first use."""
        with self._services_lock:
            if name not in self.services:
                self.services[name] = factory(self)
            return self.services[name]

    def training_context(self, progress: Any = no_progress) -> TrainingContext:
        s = self.settings
        return TrainingContext(
            seed=s.seed,
            tuning_seconds=s.tuning_seconds,
            tuning_trials=s.tuning_trials,
            progress=progress,
        )

    def audit(
        self, *, actor: str, action: str, target: str, details: dict[str, Any] | None = None
    ) -> None:
        with self.db.session() as s:
            s.add(AuditRow(actor=actor, action=action, target=target, details=details or {}))

    def promote(self, name: str, version: int, *, actor: str) -> Any:
        mv = self.registry.promote(name, version, actor=actor, reason="manual promotion")
        self.server.invalidate(name)
        self.audit(actor=actor, action="model.promote", target=mv.label)
        return mv

    def rollback(self, name: str, *, actor: str) -> Any:
        mv = self.registry.rollback(name, actor=actor)
        self.server.invalidate(name)
        self.audit(actor=actor, action="model.rollback", target=mv.label)
        return mv

    def close(self) -> None:
        for service in self.services.values():
            close = getattr(service, "close", None)
            if close:
                close()
        self.jobs.shutdown(wait=False)
        self.notifier.close()
        self.db.dispose()
