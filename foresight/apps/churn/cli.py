"""``foresight churn …``, ``foresight import churn`` and ``foresight predict churn``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from foresight.apps.churn import batch
from foresight.apps.churn.schemas import PredictRequest
from foresight.apps.churn.service import ChurnService
from foresight.platform.csvfile import read_csv
from foresight.platform.terminal import console, fail, platform_of, progress_bar, run_or_fail

cli = typer.Typer(help="Churn: at-risk customers and one customer's reasons.", no_args_is_help=True)


def _service(ctx: typer.Context) -> ChurnService:
    return platform_of(ctx).service_of(ChurnService)  # type: ignore[no-any-return]


def import_churn(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    id_column: str = typer.Option(..., "--id", help="Column with the customer id."),
    target: str | None = typer.Option(
        None, help="Column saying whether the customer churned (needed to train)."
    ),
    positive: str | None = typer.Option(
        None, help="The target value meaning 'churned' when it is not obvious (yes, 1, true…)."
    ),
) -> None:
    """Replace the customer table with FILE (all rows or none)."""
    frame = run_or_fail(read_csv, file, str(file))
    result = run_or_fail(
        _service(ctx).import_frame,
        frame,
        source=str(file),
        id_column=id_column,
        target_column=target,
        positive_label=positive,
    )
    console.print(f"[green]✓[/] {result.message}")


def predict_churn(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    out: Path = typer.Option(Path("predictions.csv"), help="Where to write the results."),
) -> None:
    """Score every customer in FILE with the production model, with a progress bar."""
    service = _service(ctx)
    with progress_bar() as bar:
        task = bar.add_task(f"scoring {file.name}", total=1.0)
        summary = run_or_fail(
            batch.score_file, service, file, out, lambda f: bar.update(task, completed=f)
        )
    console.print(
        f"[green]✓[/] {summary['scored']} rows scored → {summary['out']} "
        f"({summary['model_version']})"
    )
    if summary["rejected"]:
        console.print(
            f"[yellow]{summary['rejected']} rows rejected[/]; reasons in {summary['errors_file']}"
        )


@cli.command("at-risk")
def at_risk(
    ctx: typer.Context,
    tier: str = typer.Option("high", help="low, medium or high"),
    limit: int = typer.Option(20, min=1),
) -> None:
    """List customers by their latest churn probability."""
    if tier not in ("low", "medium", "high"):
        fail(f"--tier must be low, medium or high (got {tier!r})")
    table = Table("customer", "probability", "tier", "model", "when")
    for r in _service(ctx).at_risk(tier=tier, limit=limit):
        table.add_row(
            r.customer_id,
            f"{r.churn_probability:.3f}",
            r.risk_tier,
            r.model_version,
            r.prediction_date.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@cli.command("explain")
def explain(ctx: typer.Context, customer_id: str) -> None:
    """Score one stored customer and show the factors behind it."""
    res = run_or_fail(_service(ctx).predict, PredictRequest(customer_id=customer_id, top=8))
    console.print(
        f"[bold]{customer_id}[/]: churn probability {res['churn_probability']:.3f} "
        f"({res['risk_tier']} risk, {res['model_version']}"
        f"{', fallback ' + res['fallback'] if res['fallback'] else ''})"
    )
    for f in res["top_factors"]:
        colour = "red" if f["contribution"] > 0 else "green"
        console.print(f"  [{colour}]{f['contribution']:+.3f}[/]  {f['text']}")
