"""``foresight forecast``: the engine on any long-format CSV, no server or database needed."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from foresight.platform.csvfile import read_csv
from foresight.platform.errors import ForesightError
from foresight.platform.forecasting.engine import (
    DEFAULT_MEMBERS,
    ForecastConfig,
    ForecastResult,
    forecast,
)
from foresight.platform.forecasting.series import validate

console = Console()


def forecast_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="CSV with unique_id, ds, y."
    ),
    horizon: int = typer.Option(..., "--horizon", "-h", min=1, help="Steps to forecast."),
    out: Path = typer.Option(Path("forecasts.csv"), "--out", "-o", help="Where to write them."),
    freq: str | None = typer.Option(
        None, help="Pandas frequency of dated ds (D, W-SUN, MS, QS, h…); inferred if omitted."
    ),
    season_length: int | None = typer.Option(
        None, help="Seasonal period; needed when ds is an integer index (12 for monthly)."
    ),
    level: list[float] = typer.Option(
        [80.0, 95.0], "--level", help="Interval level(s) in percent; repeat for several."
    ),
    models: str = typer.Option(
        ",".join(DEFAULT_MEMBERS),
        help="Ensemble members: auto_ets, theta, ces, lightgbm, standard_theta; "
        "xgboost and prophet with the 'seed' extra.",
    ),
    windows: int = typer.Option(2, min=0, help="Backtest cut-offs used to choose weights."),
    country: str | None = typer.Option(
        None, help="ISO country for holiday features of daily/hourly data (US, GB, DE…)."
    ),
    future: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="Future values of exogenous columns."
    ),
    backtest_out: Path | None = typer.Option(
        None, help="Also write backtest metrics per series, window and model."
    ),
    jobs: int = typer.Option(0, help="Worker processes (0 = every core)."),
) -> None:
    """Forecast every series in FILE HORIZON steps ahead, with prediction intervals.

    Input is long format: one row per series (unique_id) and time (ds) with the value y;
    other numeric columns are exogenous regressors. ds is a date/time or an integer index
    (then give --season-length). The output has one row per series and step: unique_id,
    ds, y_hat, y_hat_lo_<L>, y_hat_hi_<L>.
    """
    try:
        frame = read_csv(file, f"input {file}")
        series = validate(frame, freq=freq, season_length=season_length)
        config = ForecastConfig(
            horizon=horizon,
            levels=tuple(level),
            members=tuple(m.strip() for m in models.split(",") if m.strip()),
            n_windows=windows,
            country=country,
            n_jobs=jobs,
        ).checked()
        future_frame = read_csv(future, f"future file {future}") if future else None
        n_series = int(series.data["unique_id"].nunique())
        console.print(
            f"{n_series} series, {len(series.data)} rows, "
            f"{'frequency ' + series.freq if series.freq else 'integer index'}, "
            f"season length {series.season_length}; horizon {horizon}"
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("fitting", total=n_series)

            def progress(done: int, total: int, message: str) -> None:
                bar.update(task, completed=done, total=total, description=f"{message:<24}")

            result = forecast(series, config, future=future_frame, progress=progress)
    except ForesightError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    result.frame(config.levels).to_csv(out, index=False)
    if backtest_out:
        result.backtest.to_csv(backtest_out, index=False)
    _report(result, out)


def _report(result: ForecastResult, out: Path) -> None:
    summary = result.summary()
    if len(summary):
        table = Table(title="Backtest (rolling origin, out of sample)")
        for col in ("model", "sMAPE", "MASE", "MAE", "windows×series"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for row in summary.itertuples():
            table.add_row(
                str(row.model), f"{row.smape:.2f}", f"{row.mase:.3f}", f"{row.mae:.4g}", str(row.n)
            )
        console.print(table)
    else:
        console.print("[yellow]no series was long enough to backtest[/]; intervals are rough")
    for group, weights in result.weights.items():
        label = "" if group == "all" else f" ({group})"
        chosen = ", ".join(f"{k} {v:.2f}" for k, v in weights.items())
        console.print(f"ensemble{label}: {chosen}")
    if result.notes:
        console.print(f"[yellow]{len(result.notes)} series with notes[/], e.g.:")
        for uid, note in list(result.notes.items())[:5]:
            console.print(f"  {uid}: {note}")
    console.print(
        f"[green]✓[/] {len(result.uids)} series × {result.horizon} steps → {out} "
        f"in {result.seconds.get('total', 0):.1f} s"
    )
