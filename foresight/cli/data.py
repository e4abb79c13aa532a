"""``foresight init`` and ``foresight train``."""

from __future__ import annotations

from typing import Any

import typer

from foresight.platform.terminal import (
    StepProgress,
    console,
    platform_of,
    progress_bar,
    run_or_fail,
)


def init(ctx: typer.Context) -> None:
    """Create the data dir and database (runs migrations); safe to run again."""
    p = platform_of(ctx)
    console.print(f"database ready: {p.db.engine.url.render_as_string(hide_password=True)}")


def train(
    ctx: typer.Context,
    app_name: str = typer.Argument(..., metavar="APP"),
    model: str | None = typer.Option(None, help="Train only this model of the app."),
) -> None:
    """Train, evaluate, gate and (if it passes) promote new models for APP."""
    platform = platform_of(ctx)
    app = run_or_fail(platform.app, app_name)
    specs = [run_or_fail(app.model, model)] if model else app.models()
    for spec in specs:
        with progress_bar() as bar:
            outcome = run_or_fail(spec.train, platform, StepProgress(bar))
        print_outcome(outcome, spec)


def print_outcome(outcome: Any, spec: Any) -> None:
    """One line for the verdict, one for the model's headline metrics."""
    verdict = "[green]promoted[/]" if outcome.promoted else "[yellow]not promoted[/]"
    console.print(
        f"{outcome.version.label} ({outcome.version.algorithm}) {verdict}: "
        f"{outcome.gate.reason}; {outcome.wall_seconds:.1f} s"
    )
    m = outcome.version.metrics
    shown = [(h.label, m[h.key]) for h in spec.headline if isinstance(m.get(h.key), float)]
    if shown:
        console.print("  " + ", ".join(f"{label} {value:.4f}" for label, value in shown))
