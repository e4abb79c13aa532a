"""Running Foresight: ``serve``, ``worker``, ``schedule``, ``dashboard`` and ``demo``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import typer
from rich.table import Table

from foresight.cli.data import print_outcome
from foresight.platform.monitoring import prepare_multiprocess
from foresight.platform.settings import Settings
from foresight.platform.stream_runner import Consumers
from foresight.platform.terminal import (
    StepProgress,
    console,
    platform_of,
    progress_bar,
    run_or_fail,
)


def serve(
    ctx: typer.Context,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs); on the embedded default it also runs the
    scheduler (one process in the cluster runs each due task)."""
    import uvicorn

    data_dir = platform_of(ctx).settings.data_dir  # migrate once before workers start
    # That was all this process needed it for: the server builds its own (with --workers 1
    # in this very process), so close it rather than keep a second one alive.
    ctx.find_root().obj.close()
    if workers > 1:
        # Each worker keeps its own counters; /metrics must sum them (docs/operations.md).
        prepare_multiprocess(data_dir / "prometheus")
    uvicorn.run(
        "foresight.api.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def worker(
    ctx: typer.Context,
    interval: float = typer.Option(None, help="Seconds between checks (default: settings)."),
    consumers: bool = typer.Option(
        True, "--consumers/--no-consumers", help="Run the apps' stream consumers too."
    ),
) -> None:
    """Run scheduled retraining and retention, send webhooks and consume the apps'
    streams (each process takes its share of the partitions), until Ctrl-C."""
    platform = platform_of(ctx)
    platform.jobs.recover()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    platform.scheduler.start(interval or platform.settings.scheduler_interval)
    if platform.settings.webhook_dispatch:
        platform.notifier.start()  # stopped by the platform's close when the command ends
    streams = Consumers(platform) if consumers else None
    if streams is not None:
        streams.start()
    names = ", ".join(r.group for r in streams.runners) if streams and streams.runners else "none"
    console.print(
        f"worker {platform.scheduler.owner} running (consumers: {names}); Ctrl-C stops it"
    )
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    if streams is not None:
        streams.stop()
    platform.scheduler.stop()


def schedule(
    ctx: typer.Context,
    run: str | None = typer.Option(None, "--run", help="Run this task now, e.g. train:<model>."),
) -> None:
    """Scheduled tasks with their last and next runs."""
    scheduler = platform_of(ctx).scheduler
    if run:
        run_or_fail(scheduler.run_now, run)
    table = Table("task", "schedule", "next run", "last run", "status", "failures", "error")

    def when(value: object) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "—"

    for t in scheduler.status():
        table.add_row(
            t.name,
            t.schedule,
            when(t.next_run_at),
            when(t.last_finished_at or t.last_started_at),
            ("running on " + t.running_owner) if t.running_owner else t.last_status or "never run",
            str(t.failures),
            (t.last_error or "")[:60],
        )
    console.print(table)


def dashboard_command(port: int) -> list[str]:
    """The Streamlit command line (the API URL and key travel in the environment)."""
    script = Path(__file__).parents[1] / "dashboard" / "app.py"
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


def demo(
    ctx: typer.Context,
    port: int = 8000,
    dashboard_port: int = 8501,
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Start API and dashboard."),
    retrain: bool = typer.Option(False, help="Train again even if a model exists."),
) -> None:
    """Load the demo data, train every app, then serve the API and the dashboard."""
    started = time.perf_counter()
    platform = platform_of(ctx)
    admin_key, _ = platform.keys.create(name="demo-admin", role="admin")
    dash_key, _ = platform.keys.create(name="dashboard", role="analyst")
    for app in platform.apps:
        console.rule(f"[bold]{app.title}[/]")
        with progress_bar() as bar:
            run_or_fail(app.load_demo, platform, StepProgress(bar))
        for spec in app.models():
            if not retrain and platform.registry.production(spec.name) is not None:
                console.print(f"{spec.name}: production model exists; --retrain trains again")
                continue
            with progress_bar() as bar:
                outcome = run_or_fail(spec.train, platform, StepProgress(bar))
            print_outcome(outcome, spec)
    console.rule()
    console.print(f"ready in {time.perf_counter() - started:.0f} s")
    if not serve_after:
        console.print(f"  admin key  [bold]{admin_key}[/]")
        console.print(
            "  start the API with `foresight serve`, the dashboard with `foresight dashboard`"
        )
        return
    console.print(f"  API        http://127.0.0.1:{port}   (OpenAPI: http://127.0.0.1:{port}/docs)")
    console.print(f"  dashboard  http://127.0.0.1:{dashboard_port}")
    console.print(f"  admin key  [bold]{admin_key}[/]")
    ctx.find_root().obj.close()  # the server processes open their own
    _serve_both(port, dashboard_port, dash_key)


def _serve_both(port: int, dashboard_port: int, dash_key: str) -> None:
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
