"""The app contract. Every app implements :class:`App` and nothing else; the platform, the
API, the CLI and the dashboard iterate the Platform's one app list and never name an app.

An app package (``foresight/apps/<name>/`` or any importable package named in
``FORESIGHT_APPS``, or announced in the ``foresight.apps`` entry-point group) exposes its
``App`` subclass as ``APP`` in its ``__init__.py``. See ``docs/new-app.md``.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.schedules import Schedule

if TYPE_CHECKING:
    from fastapi import APIRouter
    from prometheus_client import CollectorRegistry
    from sqlalchemy.orm import Session
    from typer import Typer

    from foresight.platform.job_store import Job
    from foresight.platform.monitor import Outcome
    from foresight.platform.registry import ModelVersion
    from foresight.platform.runtime import Platform
    from foresight.platform.schemas import OutcomeIn
    from foresight.platform.streams import Entry
    from foresight.platform.training import Progress, TrainingOutcome

# The shape every app folder has (``docs/new-app.md``); the contract tests check it.
APP_MODULES = (
    "__init__.py",
    "schemas.py",
    "features.py",
    "model.py",
    "store.py",
    "service.py",
    "router.py",
    "cli.py",
    "page.py",
    "demo.py",
)


class AppSettings(BaseSettings):
    """Base of an app's settings; a subclass sets ``env_prefix="FORESIGHT_<APP>_"``.

    Every field named ``*_schedule`` is checked as a schedule when the settings load, so a
    typo is a clear error at start, not a stack trace in the scheduler.
    """

    model_config = SettingsConfigDict(env_prefix="FORESIGHT_APP_", env_file=None, extra="ignore")

    @model_validator(mode="after")
    def _schedules_parse(self) -> AppSettings:
        for name in type(self).model_fields:
            if name.endswith("_schedule"):
                try:
                    Schedule.parse(getattr(self, name))
                except InvalidInput as exc:
                    prefix = self.model_config.get("env_prefix", "")
                    raise ValueError(f"{prefix}{name.upper()}: {exc.message}") from None
        return self


@dataclass
class ImportResult:
    """What an import did, in words and numbers (``rows`` accepted)."""

    rows: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    """A metric a model reports, as tables and pages show it."""

    key: str
    label: str
    higher_is_better: bool = True


@dataclass
class ModelSpec:
    """One model an app owns: how to train it, when, how it is judged and its fallback.

    ``train(platform, progress)`` runs the platform's training pipeline with the app's
    :class:`~foresight.platform.training.TrainingSpec` and does whatever the app needs
    after it (re-scoring, cache clearing). ``schedule`` is a text the scheduler parses
    (``"weekly"``, ``"daily 03:00"``, ``"monthly 1 04:00"``, ``"off"``); ``due`` may veto a
    scheduled run (e.g. no data yet). ``rule`` builds the rule baseline from a registered
    version and ``default`` builds an answer when no version exists at all (both optional
    links of the serving fallback chain).

    ``after_scheduled_run(platform, outcome)`` runs after ``train`` only when the scheduler
    ran it (its slot, ``foresight schedule --run``, a drift-triggered retraining), never
    for ``foresight train``: the place to push fresh predictions somewhere. If it raises,
    the training still counts as succeeded and the failure is announced as ``task.failed``.
    """

    name: str
    title: str
    train: Callable[[Platform, Progress], TrainingOutcome]
    gate_metric: str
    headline: tuple[Metric, ...]
    schedule: str = "off"
    due: Callable[[Platform], bool] | None = None
    rule: Callable[[ModelVersion], Any] | None = None
    default: Callable[[], Any] | None = None
    # How outcomes are scored ("binary": probabilities vs 0/1; "regression") and whether
    # a detected drift starts a retraining run.
    task: str | None = None
    retrain_on_drift: bool = False
    after_scheduled_run: Callable[[Platform, TrainingOutcome], None] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A scheduled job an app owns that is not a model's training (a sync, a refresh).

    The scheduler registers it as ``<app>:<name>`` and runs ``run(platform)`` on
    ``schedule`` in exactly one process of the cluster, retrying failures with back-off;
    each failure is announced as ``task.failed``. ``due(platform)`` may veto a run that
    has come (e.g. nothing changed); a manual run (``foresight schedule --run``) skips it.
    """

    name: str
    title: str
    schedule: str
    run: Callable[[Platform], object]
    due: Callable[[Platform], bool] | None = None


@dataclass(frozen=True)
class ConsumerSpec:
    """A stream consumer an app owns; the platform runs it as group ``<app>:<name>``.

    The app appends to ``stream`` through ``platform.stream(stream, partitions)``. The
    runner (``stream_runner.py``) leases partitions, reads batches of at most ``batch``
    records and calls ``handle(platform, session, partition, entries)`` inside the
    transaction that also moves the partition's checkpoint: what ``handle`` writes in
    ``session`` commits exactly once per record, whatever crashes. ``handle`` must not
    read the clock for what it writes (a replay must give the same rows). It may return
    a callable that runs after the commit (a cache or online-store write). If it raises,
    nothing commits and the batch comes again. ``on_acquire(platform, partition)`` runs
    when this process takes a partition (rebuild in-memory state from committed rows).
    """

    name: str
    stream: str
    partitions: int
    handle: Callable[[Platform, Session, int, list[Entry]], Callable[[], None] | None]
    on_acquire: Callable[[Platform, int], None] | None = None
    batch: int = 5000
    block_ms: int = 200


class App(ABC):
    """What an app declares to the platform.

    Subclasses set the class attributes and implement the abstract methods; the folder
    layout (``APP_MODULES`` plus ``migrations/``) is the same for every app.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    folder: ClassVar[Path]
    settings_class: ClassVar[type[AppSettings]] = AppSettings
    service_class: ClassVar[type[Any]]
    # Webhook events the app publishes (``foresight webhooks add`` checks against them).
    events: ClassVar[tuple[str, ...]] = ()
    # Event types the app rebuilds its state from: the retention purge never deletes them.
    kept_events: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: AppSettings | None = None) -> None:
        self.settings = settings if settings is not None else self.settings_class()

    @property
    def migrations(self) -> Path:
        """The app's own Alembic branch."""
        return self.folder / "migrations"

    @property
    def page(self) -> Path:
        """The app's dashboard page (a Streamlit script that talks to the API only)."""
        return self.folder / "page.py"

    def create_service(self, platform: Platform) -> Any:
        """The app's service for this process (``Platform.service_of`` calls it once)."""
        return self.service_class(platform, self.settings)

    @abstractmethod
    def models(self) -> list[ModelSpec]:
        """The models this app owns (one or several), each with its training spec."""

    @abstractmethod
    def routers(self) -> list[APIRouter]:
        """The app's HTTP routers (every path under ``/api/v1/``)."""

    @abstractmethod
    def cli(self) -> Typer | None:
        """``foresight <app> …`` commands, or None."""

    @abstractmethod
    def import_command(self) -> Callable[..., Any]:
        """The typed ``foresight import <app> FILE [options]`` command function."""

    def tasks(self) -> list[TaskSpec]:
        """Scheduled jobs besides the models' training (optional; none by default)."""
        return []

    def consumers(self) -> list[ConsumerSpec]:
        """Stream consumers (optional; none by default): ``foresight worker`` runs them,
        and ``foresight serve`` too when there is no Redis (``FORESIGHT_STREAM_CONSUMERS``
        chooses)."""
        return []

    def health(self, platform: Platform) -> dict[str, dict[str, Any]]:
        """The app's own components for ``GET /health``, by name (optional).

        Each entry is a small dict with a boolean ``ok`` (plus any detail worth showing);
        it appears as ``<app>:<name>`` and one that is not ok makes the platform
        ``degraded``. ``/health`` is polled often: answer from a recent cached probe
        (seconds old at most), never by waiting on an outside system.
        """
        return {}

    def predict_command(self) -> Callable[..., Any] | None:
        """The typed ``foresight predict <app> FILE`` command function, if the app has one."""
        return None

    @abstractmethod
    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        """Load the app's public demo data (``foresight demo``)."""

    def register_metrics(self, platform: Platform, registry: CollectorRegistry) -> None:  # noqa: B027
        """Add the app's own Prometheus metrics (optional): counters and histograms to
        ``registry``; a value read at scrape time through ``platform.metrics.gauge_function``
        (with several worker processes only those two stay right)."""

    def resolve_outcome(self, platform: Platform, item: OutcomeIn) -> Outcome:
        """Match one posted outcome with the prediction it judges (``POST /outcomes``);
        an InvalidInput says why it matches nothing (the API names the item)."""
        raise InvalidInput(f"{self.name} takes no outcomes")

    def purge_predictions(self, platform: Platform, before: datetime) -> int:
        """Retention: delete the app's stored predictions made before ``before``."""
        return 0

    def discard_job(self, platform: Platform, job: Job) -> None:  # noqa: B027
        """One of the app's jobs failed (its error, or its process stopped): delete what
        it stored outside its own output (predictions logged as it went, say), since its
        user is told to submit it again. Called before the job reads "failed" when it
        fails in its own process, after the claim when a replica recovers it; must be
        idempotent. Optional: the default keeps everything."""

    def model(self, name: str) -> ModelSpec:
        for spec in self.models():
            if spec.name == name:
                return spec
        raise NotFound(
            f"{self.name} has no model {name!r}; its models: "
            + ", ".join(m.name for m in self.models())
        )


ENTRY_POINTS = "foresight.apps"


def installed_app_modules() -> list[str]:
    """The app packages installed in this environment (the ``foresight.apps`` entry
    points), by name: what loads when ``FORESIGHT_APPS`` is unset."""
    found = sorted(entry_points(group=ENTRY_POINTS), key=lambda ep: ep.name)
    return [ep.value for ep in found]


def app_pages(modules: Iterable[str] | None = None) -> list[tuple[str, Path]]:
    """(app name, page path) of every app, found without importing the apps (the
    dashboard talks to the API only; it needs the page files, not the apps' code)."""
    pages = []
    for module in installed_app_modules() if modules is None else modules:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            page = Path(spec.origin).parent / "page.py"
            if page.exists():
                pages.append((module.rsplit(".", 1)[-1], page))
    return pages


def load_apps(modules: Iterable[str] | None = None) -> list[App]:
    """Import each app package and instantiate its ``APP`` class (settings from the env);
    the installed apps when ``modules`` is None."""
    if modules is None:
        modules = installed_app_modules()
    apps: list[App] = []
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InvalidInput(f"cannot import app package {module_name!r}: {exc}") from exc
        cls = getattr(module, "APP", None)
        if not (isinstance(cls, type) and issubclass(cls, App)):
            raise InvalidInput(f"{module_name} has no APP class implementing foresight's App")
        try:
            apps.append(cls())
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise InvalidInput(f"settings of {module_name}: {problems}") from None
    names = [a.name for a in apps]
    if len(set(names)) != len(names):
        raise InvalidInput(f"two apps share a name: {', '.join(names)}")
    return apps


def find_app(apps: Iterable[App], name: str) -> App:
    """The app called ``name``; a clear 404 listing the installed ones otherwise."""
    apps = list(apps)
    for app in apps:
        if app.name == name:
            return app
    raise NotFound(f"unknown app {name!r}; installed apps: {', '.join(a.name for a in apps)}")
