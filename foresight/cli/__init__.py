"""The ``foresight`` command line (Typer + Rich).

Platform commands live in this package; each app adds ``foresight <app> …`` and its own
typed ``foresight import <app>`` / ``foresight predict <app>`` commands through the
:class:`~foresight.platform.apps.App` contract, so nothing here names an app.
"""

from __future__ import annotations

import os

import typer
from pydantic import ValidationError

from foresight.cli import admin, data, registry, run, tabular
from foresight.forecast_cli import forecast_command
from foresight.platform.apps import load_apps
from foresight.platform.errors import ForesightError
from foresight.platform.logging import configure_logging
from foresight.platform.runtime import Platform
from foresight.platform.settings import Settings
from foresight.platform.terminal import PlatformHandle, console, fail

app = typer.Typer(
    help="Foresight: train, serve and watch the predictions your business runs on.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _settings_problem(exc: ValidationError) -> str:
    """A bad ``FORESIGHT_*`` value in one line: the variable and what is wrong."""
    return "; ".join(
        f"FORESIGHT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
    )


try:
    LOADED = Settings().apps
except ValidationError:
    # Reported by the callback below, in one line, before any command runs; the
    # commands are built meanwhile from every installed app.
    LOADED = None
try:
    APPS = load_apps(LOADED)
    APPS_ERROR = None
except ForesightError as exc:  # a bad FORESIGHT_APPS: platform commands still explain it
    APPS, APPS_ERROR = [], exc.message

import_cli = typer.Typer(help="Load your own CSV into an app (all rows or none).")
predict_cli = typer.Typer(help="Score a CSV file with an app's production model.")
for _app in APPS:
    import_cli.command(_app.name, help=f"{_app.title}: {_app.description}")(_app.import_command())
    if (_predict := _app.predict_command()) is not None:
        predict_cli.command(_app.name)(_predict)
    if (_sub := _app.cli()) is not None:
        app.add_typer(_sub, name=_app.name)
app.add_typer(import_cli, name="import", no_args_is_help=True)
app.add_typer(predict_cli, name="predict", no_args_is_help=True)
app.add_typer(registry.models_cli, name="models")
app.add_typer(tabular.tabular_cli, name="tabular")
app.add_typer(admin.keys_cli, name="keys")
app.add_typer(admin.webhooks_cli, name="webhooks")
app.command("audit")(admin.audit)
app.command("monitor")(registry.monitor)
app.command("train")(data.train)
app.command("init")(data.init)
app.command("schedule")(run.schedule)
app.command("serve")(run.serve)
app.command("worker")(run.worker)
app.command("dashboard")(run.dashboard)
app.command("demo")(run.demo)
app.command("forecast")(forecast_command)


@app.callback()
def _configure(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show info logs."),
) -> None:
    """Foresight: train, serve and watch the predictions your business runs on."""
    try:
        settings = Settings()
    except ValidationError as exc:
        fail(_settings_problem(exc))
    if os.environ.get("COLUMNS", "").isdigit():  # honoured at run time, not only at import
        console.width = int(os.environ["COLUMNS"])
    # The terminal gets readable warnings unless FORESIGHT_LOG_LEVEL / _JSON say otherwise.
    explicit = settings.model_fields_set
    level = "INFO" if verbose else settings.log_level if "log_level" in explicit else "WARNING"
    configure_logging(level, json=settings.log_json if "log_json" in explicit else False)
    if APPS_ERROR is not None:
        fail(APPS_ERROR)
    # The commands above were built from the apps loaded at import; the same list serves.
    apps = APPS if settings.apps == LOADED else None
    handle = PlatformHandle(lambda: Platform.create(settings, apps))
    ctx.obj = handle
    ctx.call_on_close(handle.close)


def main() -> None:
    app()
