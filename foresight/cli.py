"""The ``foresight`` command line (Typer + Rich)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from foresight.apps import load_all
from foresight.forecast_cli import forecast_command
from foresight.platform.apps import all_apps, get_app
from foresight.platform.errors import ForesightError
from foresight.platform.logging import configure_logging
from foresight.platform.runtime import Platform
from foresight.platform.settings import Settings

app = typer.Typer(
    help="Foresight: train, serve and watch the predictions your business runs on.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_cli = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
models_cli = typer.Typer(
    help="The model registry: list, show, promote, rollback.", no_args_is_help=True
)
webhooks_cli = typer.Typer(help="Outgoing webhooks (e.g. churn.high_risk).", no_args_is_help=True)
app.add_typer(keys_cli, name="keys")
app.add_typer(models_cli, name="models")
app.add_typer(webhooks_cli, name="webhooks")
app.command("forecast")(forecast_command)
for _spec in load_all():
    if _spec.cli is not None:
        app.add_typer(_spec.cli, name=_spec.name)

console = Console()
_platform: Platform | None = None


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show info logs."),
) -> None:
    """Foresight: train, serve and watch the predictions your business runs on."""
    # The terminal gets readable warnings; servers log JSON (see api/main.py).
    configure_logging("INFO" if verbose else "WARNING", json=False)


def get_platform() -> Platform:
    """The process's platform (migrations run on first use)."""
    global _platform
    if _platform is None:
        _platform = Platform.create(Settings(), all_apps())
    return _platform


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def run_or_fail(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ForesightError as exc:
        fail(
            exc.message
            + (f"\n{exc.details}" if exc.details and not isinstance(exc.details, list) else "")
        )


class StepProgress:
    """A Rich progress bar fed by the pipeline's ``progress(step, fraction, message)``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, step: str, fraction: float, message: str) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=1.0)
        self.progress.update(
            self.tasks[step], completed=fraction, description=f"{step:<9} {message}"
        )


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def init() -> None:
    """Create the data dir and database (runs migrations); safe to run again."""
    p = get_platform()
    console.print(f"database ready: {p.db.engine.url.render_as_string(hide_password=True)}")


@app.command("import")
def import_data(
    app_name: str = typer.Argument(..., metavar="APP"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    target: str | None = typer.Option(None, help="Column to learn (e.g. churn)."),
    id_column: str | None = typer.Option(None, "--id", help="Column with the entity id."),
    positive: str | None = typer.Option(None, help="Target value meaning 'yes'."),
) -> None:
    """Load your own CSV into an app (replaces that app's data, all rows or none)."""
    spec = run_or_fail(get_app, app_name)
    result = run_or_fail(
        spec.import_file,
        get_platform(),
        file,
        target=target,
        id_column=id_column,
        positive=positive,
    )
    console.print(f"[green]✓[/] {result.message}")


@app.command()
def train(app_name: str = typer.Argument(..., metavar="APP")) -> None:
    """Train, evaluate, gate and (if it passes) promote a new model for APP."""
    spec = run_or_fail(get_app, app_name)
    with progress_bar() as bar:
        outcome = run_or_fail(spec.train, get_platform(), StepProgress(bar))
    print_outcome(outcome)


def print_outcome(outcome: Any) -> None:
    m = outcome.version.metrics
    verdict = "[green]promoted[/]" if outcome.promoted else "[yellow]not promoted[/]"
    console.print(
        f"{outcome.version.label} ({outcome.version.algorithm}) {verdict}: "
        f"{outcome.gate.reason}; {outcome.wall_seconds:.1f} s"
    )
    shown = {k: v for k, v in m.items() if isinstance(v, float)}
    console.print("  " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))


@app.command()
def predict(
    app_name: str = typer.Argument(..., metavar="APP"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    out: Path = typer.Option(Path("predictions.csv"), help="Where to write the results."),
) -> None:
    """Score a CSV file with APP's production model, with a progress bar."""
    spec = run_or_fail(get_app, app_name)
    if spec.predict_file is None:
        fail(f"{app_name} has no file scoring")
    with progress_bar() as bar:
        task = bar.add_task(f"scoring {file.name}", total=1.0)
        summary = run_or_fail(
            spec.predict_file, get_platform(), file, out, lambda f: bar.update(task, completed=f)
        )
    console.print(
        f"[green]✓[/] {summary['scored']} rows scored → {summary['out']} "
        f"({summary['model_version']})"
    )
    if summary["rejected"]:
        console.print(
            f"[yellow]{summary['rejected']} rows rejected[/]; reasons in {summary['errors_file']}"
        )


# ---- keys --------------------------------------------------------------------------------
@keys_cli.command("create")
def keys_create(
    role: str = typer.Option(..., help="admin, analyst or service"),
    name: str = typer.Option("cli", help="Who or what uses the key."),
) -> None:
    """Create an API key; it is printed once."""
    plain, principal = run_or_fail(get_platform().keys.create, name=name, role=role)
    get_platform().audit(actor="cli", action="key.create", target=name, details={"role": role})
    console.print(f"key id {principal.key_id} ({role}): [bold]{plain}[/]")


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    for k in get_platform().keys.summaries():
        table.add_row(
            str(k["id"]),
            k["name"],
            k["role"],
            k["prefix"],
            k["created_at"][:19],
            "yes" if k["revoked"] else "",
        )
    console.print(table)


@keys_cli.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key."""
    run_or_fail(get_platform().keys.revoke, key_id)
    console.print(f"revoked key {key_id}")


# ---- models ------------------------------------------------------------------------------
@models_cli.command("list")
def models_list(name: str | None = typer.Argument(None)) -> None:
    """Every model version with its stage and headline metric."""
    table = Table(
        "model", "version", "stage", "algorithm", "holdout ROC-AUC", "CV ROC-AUC", "created"
    )
    for mv in get_platform().registry.versions(name):
        m = mv.metrics
        table.add_row(
            mv.name,
            str(mv.version),
            mv.stage,
            mv.algorithm,
            f"{m.get('roc_auc', float('nan')):.4f}",
            f"{m.get('cv_roc_auc', float('nan')):.4f}",
            mv.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@models_cli.command("show")
def models_show(name: str, version: int | None = typer.Option(None)) -> None:
    """One model version: metrics (held-out and cross-validated), params, gate history."""
    reg = get_platform().registry
    mv = run_or_fail(reg.get, name, version) if version else reg.production(name)
    if mv is None:
        fail(f"{name} has no production model; see `foresight models list`")
    console.print(
        f"[bold]{mv.label}[/] stage={mv.stage} algorithm={mv.algorithm} "
        f"fingerprint={mv.data_fingerprint[:12]} run={mv.run_id}"
    )
    table = Table("metric", "value")
    for k, v in mv.metrics.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(table)
    console.print("params: " + ", ".join(f"{k}={v}" for k, v in mv.params.items()))
    for g in reg.gates(name, limit=5):
        mark = "[green]pass[/]" if g["passed"] else "[red]fail[/]"
        console.print(f"gate v{g['candidate_version']}: {mark} {g['reason']}")


@models_cli.command("promote")
def models_promote(name: str, version: int) -> None:
    """Make VERSION production (the current one is archived)."""
    mv = run_or_fail(get_platform().promote, name, version, actor="cli")
    console.print(f"{mv.label} is now production")


@models_cli.command("rollback")
def models_rollback(name: str) -> None:
    """Bring back the previous production version."""
    mv = run_or_fail(get_platform().rollback, name, actor="cli")
    console.print(f"rolled back: {mv.label} is production again")


# ---- webhooks ----------------------------------------------------------------------------
@webhooks_cli.command("add")
def webhooks_add(url: str, event: list[str] = typer.Option(["churn.high_risk"], "--event")) -> None:
    """Subscribe URL to events; prints the signing secret once."""
    hook = run_or_fail(get_platform().notifier.add, url, event)
    console.print(
        f"webhook {hook['id']} → {url} for {', '.join(event)}; secret [bold]{hook['secret']}[/]"
    )


@webhooks_cli.command("list")
def webhooks_list() -> None:
    """Subscribed webhooks and recent failed deliveries."""
    for h in get_platform().notifier.subscriptions():
        console.print(f"{h['id']}: {h['url']} {h['events']} {'active' if h['active'] else 'off'}")
    for d in get_platform().notifier.deliveries("dead", limit=10):
        console.print(f"[red]dead[/] delivery {d['id']} {d['event']}: {d['last_error']}")


# ---- running -----------------------------------------------------------------------------
@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    get_platform()  # migrate once before workers start
    uvicorn.run(
        "foresight.api.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def dashboard_command(port: int) -> list[str]:
    """The Streamlit command line (the API URL and key travel in the environment)."""
    script = Path(__file__).parent / "dashboard" / "app.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]


@app.command()
def dashboard(
    port: int = 8501,
    api_url: str = typer.Option(None, help="Default: settings.api_url"),
    api_key: str = typer.Option(None, envvar="FORESIGHT_API_KEY"),
) -> None:
    """Run the Streamlit dashboard (it talks to the API only)."""
    env = {**os.environ, "FORESIGHT_API_URL": api_url or Settings().api_url}
    if api_key:
        env["FORESIGHT_API_KEY"] = api_key
    raise typer.Exit(subprocess.call(dashboard_command(port), env=env))


@app.command()
def demo(
    port: int = 8000,
    dashboard_port: int = 8501,
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Start API and dashboard."),
    retrain: bool = typer.Option(False, help="Train again even if a model exists."),
) -> None:
    """Load the demo data, train every app, then serve the API and the dashboard."""
    started = time.perf_counter()
    platform = get_platform()
    admin_key, _ = platform.keys.create(name="demo-admin", role="admin")
    dash_key, _ = platform.keys.create(name="dashboard", role="analyst")
    for spec in all_apps():
        console.rule(f"[bold]{spec.title}[/]")
        with progress_bar() as bar:
            run_or_fail(spec.load_demo, platform, StepProgress(bar))
            if retrain or platform.registry.production(spec.name) is None:
                outcome = run_or_fail(spec.train, platform, StepProgress(bar))
            else:
                outcome = None
        if outcome:
            print_outcome(outcome)
        else:
            console.print(f"{spec.name}: production model exists; use --retrain to train again")
    console.rule()
    console.print(f"ready in {time.perf_counter() - started:.0f} s")
    console.print(f"  API        http://127.0.0.1:{port}   (OpenAPI: http://127.0.0.1:{port}/docs)")
    console.print(f"  dashboard  http://127.0.0.1:{dashboard_port}")
    console.print(f"  admin key  [bold]{admin_key}[/]")
    console.print(
        f"  try: curl -s -H 'X-API-Key: {admin_key}' -H 'Content-Type: application/json' "
        f'-d \'{{"customer_id": "C00003"}}\' http://127.0.0.1:{port}/api/v1/churn/predict',
        soft_wrap=True,  # one line, so it can be copied
    )
    if not serve_after:
        return
    platform.close()
    env = {
        **os.environ,
        "FORESIGHT_API_URL": f"http://127.0.0.1:{port}",
        "FORESIGHT_API_KEY": dash_key,
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "foresight", "serve", "--port", str(port)], env=env
    )
    dash = subprocess.Popen(
        dashboard_command(dashboard_port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    console.print("serving; Ctrl-C stops both")
    try:
        while api.poll() is None and dash.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (api, dash):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (api, dash):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    app()
