"""``foresight tips …`` and ``foresight import tips``."""

from __future__ import annotations

from pathlib import Path

import typer

from foresight.platform.csvfile import read_csv
from foresight.platform.terminal import console, platform_of, run_or_fail
from tests.example_app.schemas import TipRequest
from tests.example_app.service import TipsService

cli = typer.Typer(help="Tips: one table's expected tip.", no_args_is_help=True)


def import_tips(
    ctx: typer.Context, file: Path = typer.Argument(..., exists=True, dir_okay=False)
) -> None:
    """Replace the tips table with FILE (bill, party_size, tip)."""
    frame = run_or_fail(read_csv, file, str(file))
    result = run_or_fail(platform_of(ctx).service_of(TipsService).import_frame, frame)
    console.print(f"[green]✓[/] {result.message}")


@cli.command("predict")
def predict(ctx: typer.Context, bill: float, party_size: int = 2) -> None:
    """The expected tip for one table."""
    service = platform_of(ctx).service_of(TipsService)
    answer = run_or_fail(service.predict, TipRequest(bill=bill, party_size=party_size))
    console.print(f"tip {answer['tip']:.2f} ({answer['model_version']})")
