"""The :class:`Platform`: every platform service, built once per process from settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from foresight.platform.apps import App, ConsumerSpec, ModelSpec, find_app, load_apps
from foresight.platform.artifacts import artifact_store_from_kind
from foresight.platform.audit import AuditLog
from foresight.platform.auth import KeyStore
from foresight.platform.cache import AppCache, TieredCache, cache_from_kind
from foresight.platform.db import migrate
from foresight.platform.db.base import utcnow
from foresight.platform.db.engine import Database
from foresight.platform.errors import InvalidInput, ModelNotFound
from foresight.platform.event_buffer import BufferedEvents
from foresight.platform.events import EventLog, NewEvent, event_log_from_kind
from foresight.platform.jobs import Job, JobQueue
from foresight.platform.monitor import Monitor
from foresight.platform.monitoring import Metrics
from foresight.platform.notify import PLATFORM_EVENTS, Notifier
from foresight.platform.operations import build_scheduler
from foresight.platform.ratelimit import RateLimiter, rate_limiter_from_kind
from foresight.platform.registry import ModelRegistry
from foresight.platform.scheduler import Scheduler
from foresight.platform.serving import ModelServer, Served
from foresight.platform.settings import Settings
from foresight.platform.stream_runner import stream_lags
from foresight.platform.streams import Stream, stream_from_kind
from foresight.platform.training import TrainingContext, TrainingPipeline, no_progress

S = TypeVar("S")


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
    audit_log: AuditLog
    events: EventLog
    monitor: Monitor
    # Telemetry events, written in batches off the request thread (its thread starts on
    # the first add); drops count in foresight_events_dropped_total. State changes commit
    # with their rows through ``events.atomic()`` instead.
    event_buffer: BufferedEvents
    apps: list[App] = field(default_factory=list)
    redis: Any | None = None
    clock: Callable[[], datetime] = utcnow
    # App services, one per class and process, created on first use (see service_of).
    services: dict[type, Any] = field(default_factory=dict)
    _specs: dict[str, ModelSpec] = field(default_factory=dict, repr=False)
    _scheduler: Any = field(default=None, repr=False)
    _streams: dict[str, Stream] = field(default_factory=dict, repr=False)
    _limiters: dict[str, RateLimiter] = field(default_factory=dict, repr=False)
    _services_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(
        cls,
        settings: Settings,
        apps: Iterable[App] | None = None,
        *,
        migrate_db: bool = True,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Platform:
        """Build every service and run migrations. Starts no background sender: job
        recovery, the webhook dispatcher and the key revocation watcher belong to the
        processes that serve (the API's lifespan, ``foresight worker``).

        ``apps`` defaults to the packages named in ``settings.apps``.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.secret_key  # noqa: B018 - generated into the data dir on first start
        db = Database(settings.resolved_database_url, spool_dir=settings.data_dir / "spool")
        apps = load_apps(settings.apps) if apps is None else list(apps)
        if migrate_db:
            migrate.upgrade(db, [a.migrations for a in apps])
        metrics = Metrics()
        registry = ModelRegistry(
            db, artifact_store_from_kind(settings.artifact_backend, settings.artifacts_dir)
        )
        # Short timeouts: a slow or absent Redis must cost a request milliseconds, not seconds.
        # No client-side retries either: a frozen Redis costs one short timeout, then the
        # cache's breaker keeps requests off it.
        client = (
            redis.Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=0.25,
                socket_timeout=0.25,
                retry=Retry(NoBackoff(), 0),
            )
            if settings.redis_url
            else None
        )
        default_backend = "redis" if settings.redis_url else "memory"
        cache = cache_from_kind(
            settings.cache_backend or default_backend,
            client=client,
            prefix=settings.redis_prefix,
            on_lookup=metrics.on_cache_lookup,
        )
        limiter = rate_limiter_from_kind(
            settings.ratelimit_backend or default_backend,
            settings.rate_limit,
            redis_url=settings.redis_url,
            prefix=settings.redis_prefix + "ratelimit",
        )
        events = event_log_from_kind(settings.event_backend, db, clock=clock)
        notifier = notifier or Notifier(
            db,
            events=events,
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            rate_per_second=settings.webhook_rate_per_second,
            pause_after=settings.webhook_pause_after,
            pause_seconds=settings.webhook_pause_seconds,
            on_result=lambda status: metrics.webhooks.labels(status).inc(),
            clock=clock,
        )
        # ``platform`` is bound below, before any job can run or be recovered.
        jobs = JobQueue(
            db,
            on_finish=lambda job: platform.job_finished(job),
            discard=lambda job: platform.discard_job(job),
        )
        server = ModelServer(
            registry,
            pointer_ttl=settings.production_pointer_ttl,
            on_fallback=lambda m, level: metrics.fallbacks.labels(m, level).inc(),
        )
        pipeline = TrainingPipeline(db, registry, on_promote=server.invalidate)
        platform = cls(
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
            audit_log=AuditLog(db),
            events=events,
            event_buffer=BufferedEvents(events, on_drop=metrics.events_dropped.inc, clock=clock),
            monitor=Monitor(
                db,
                registry,
                metrics,
                announce=lambda event, payload: None,  # bound to the platform below
                window=settings.monitor_window,
                per_minute=settings.monitor_per_minute,
                clock=clock,
            ),
            apps=apps,
            redis=client,
            clock=clock,
        )
        pipeline.announce = monitor_announce = platform.announce
        platform.monitor.announce = monitor_announce
        for app in apps:
            app.register_metrics(platform, metrics.registry)
        if platform.consumer_specs():
            metrics.labeled_gauge_function(
                "foresight_stream_lag",
                "Stream entries past each consumer group's checkpoint",
                ["group", "partition"],
                lambda: stream_lags(platform),
            )
        return platform

    def announce(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Record ``event`` in the event log (kept, replayable) and wake the webhook
        dispatcher, which sends it from the log to every subscriber once. ``key`` is the
        entity it is about (default: the model); an ``idempotency_key`` seen before
        records, and so sends, nothing new."""
        entity = key if key is not None else str(payload.get("model", ""))
        self.events.publish(event, entity, payload, idempotency_key=idempotency_key)
        self.notifier.publish(event, payload)

    def announce_many(self, events: Sequence[NewEvent]) -> None:
        """Record many events in one event-log transaction and wake the webhook
        dispatcher once (a batch's alerts, say); nothing to do for none."""
        if events:
            self.events.publish_many(events)
            self.notifier.publish(events[-1].type, dict(events[-1].payload))

    def job_finished(self, job: Job) -> None:
        """A job ended (``JobQueue.on_finish``): count it."""
        self.metrics.jobs.labels(job.app, job.kind, job.status).inc()

    def discard_job(self, job: Job) -> None:
        """A job is failing (``JobQueue.discard``): its app deletes what the job stored
        outside its output (``App.discard_job``)."""
        for app in self.apps:
            if app.name == job.app:
                app.discard_job(self, job)

    def app(self, name: str) -> App:
        """The installed app ``name`` (a 404-style error lists the installed ones)."""
        return find_app(self.apps, name)

    def service_of(self, cls: type[S]) -> S:
        """The process's service of class ``cls``, built by the app that declares it."""
        found = self.services.get(cls)
        if found is not None:
            return found  # type: ignore[no-any-return]
        with self._services_lock:
            if cls not in self.services:
                owner = next((a for a in self.apps if a.service_class is cls), None)
                if owner is None:
                    raise LookupError(f"no installed app declares the service {cls.__name__}")
                self.services[cls] = owner.create_service(self)
            return self.services[cls]  # type: ignore[no-any-return]

    def model_specs(self) -> list[tuple[App, ModelSpec]]:
        """Every model of every installed app, with the app that owns it."""
        return [(app, spec) for app in self.apps for spec in app.models()]

    def model_spec(self, name: str) -> ModelSpec:
        """The spec of the model registered as ``name``."""
        for _, spec in self.model_specs():
            if spec.name == name:
                return spec
        known = ", ".join(spec.name for _, spec in self.model_specs())
        raise ModelNotFound(f"no installed app owns a model named {name!r}; models: {known}")

    def serve(self, name: str) -> Served:
        """The model that answers for ``name`` now, walking the fallback chain the spec
        declares (production → previous production → rule baseline → default)."""
        spec = self._specs.get(name)
        if spec is None:
            spec = self._specs[name] = self.model_spec(name)
        return self.server.resolve(name, rule=spec.rule, default=spec.default)

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler with every model's retraining and retention registered."""
        with self._services_lock:
            if self._scheduler is None:
                self._scheduler = build_scheduler(self)
            return self._scheduler  # type: ignore[no-any-return]

    def stream(self, name: str, partitions: int) -> Stream:
        """The stream ``name`` on the configured backend (one object per process)."""
        with self._services_lock:
            found = self._streams.get(name)
            if found is not None and found.partitions != partitions:
                raise InvalidInput(
                    f"stream {name!r} has {found.partitions} partitions, not {partitions}; "
                    "a stream's partitioning is fixed (name a new stream to change it)"
                )
            if found is None:
                s = self.settings
                kind = s.stream_backend or ("redis" if self.redis is not None else "database")
                kw: dict[str, Any] = {"name": name, "partitions": partitions}
                if kind == "redis" and not s.redis_url:
                    raise InvalidInput("FORESIGHT_STREAM_BACKEND=redis needs FORESIGHT_REDIS_URL")
                if kind == "redis":
                    # Its own client: a blocking read waits longer than the cache's 0.25 s
                    # socket timeout, and an append must not be dropped by a short one.
                    client = redis.Redis.from_url(s.redis_url or "", socket_timeout=10.0)
                    kw.update(client=client, prefix=s.redis_prefix)
                else:
                    kw.update(db=self.db, clock=self.clock)
                found = self._streams[name] = stream_from_kind(kind, **kw)
            return found

    def limiter_for(self, name: str, rate: str) -> RateLimiter:
        """A rate limiter of its own (``rate`` in ``limits`` syntax, e.g. an app's events
        per minute per client), on the same backend as the per-key request limit; hits
        may carry a ``cost``. One per name and process."""
        with self._services_lock:
            found = self._limiters.get(name)
            if found is None:
                s = self.settings
                kind = s.ratelimit_backend or ("redis" if s.redis_url else "memory")
                prefix = f"{s.redis_prefix}ratelimit:{name}"
                found = rate_limiter_from_kind(kind, rate, redis_url=s.redis_url, prefix=prefix)
                self._limiters[name] = found
            return found

    def consumer_specs(self) -> list[tuple[App, ConsumerSpec]]:
        """Every app's stream consumers."""
        return [(app, spec) for app in self.apps for spec in app.consumers()]

    def cache_for(self, namespace: str) -> AppCache:
        """The cache as one app sees it: only keys under ``<namespace>:``."""
        return AppCache(self.cache, namespace)

    def training_context(self, progress: Any = no_progress) -> TrainingContext:
        s = self.settings
        return TrainingContext(
            seed=s.seed,
            tuning_seconds=s.tuning_seconds,
            tuning_trials=s.tuning_trials,
            progress=progress,
            members=tuple(s.tabular_members) if s.tabular_members else None,
        )

    def audit(
        self, *, actor: str, action: str, target: str, details: dict[str, Any] | None = None
    ) -> None:
        """Record an admin change in the audit log."""
        self.audit_log.write(actor=actor, action=action, target=target, details=details)

    def known_events(self) -> list[str]:
        """Every webhook event the platform and the installed apps publish."""
        return [*PLATFORM_EVENTS, *(e for app in self.apps for e in app.events)]

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
        if self._scheduler is not None:
            self._scheduler.stop(timeout=5.0)
        for service in self.services.values():
            close = getattr(service, "close", None)
            if close:
                close()
        self.event_buffer.close()  # after the services, which may still add events
        self.monitor.close()
        self.keys.close()
        self.jobs.shutdown(wait=False)
        self.notifier.close()
        self.db.dispose()
