"""``foresight models …``: the registry in the terminal."""

from __future__ import annotations

import typer
from rich.table import Table

from foresight.platform.terminal import console, fail, platform_of, run_or_fail

models_cli = typer.Typer(
    help="The model registry: list, show, promote, rollback.", no_args_is_help=True
)


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "" if value is None else str(value)


@models_cli.command("list")
def models_list(ctx: typer.Context, name: str | None = typer.Argument(None)) -> None:
    """Every model version with its stage and the headline metrics its app declares."""
    platform = platform_of(ctx)
    specs = {spec.name: spec for _, spec in platform.model_specs()}
    versions = platform.registry.versions(name)
    for model_name in dict.fromkeys(v.name for v in versions):
        spec = specs.get(model_name)
        headline = spec.headline if spec else ()
        table = Table(
            "version",
            "stage",
            "algorithm",
            *(h.label for h in headline),
            "created",
            title=model_name,
        )
        for mv in (v for v in versions if v.name == model_name):
            table.add_row(
                str(mv.version),
                mv.stage,
                mv.algorithm,
                *(_fmt(mv.metrics.get(h.key)) for h in headline),
                mv.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)
    if not versions:
        console.print("no model trained yet: run `foresight train APP` or `foresight demo`")


@models_cli.command("show")
def models_show(ctx: typer.Context, name: str, version: int | None = typer.Option(None)) -> None:
    """One model version: every metric, params, gate history."""
    reg = platform_of(ctx).registry
    mv = run_or_fail(reg.get, name, version) if version else reg.production(name)
    if mv is None:
        fail(f"{name} has no production model; see `foresight models list`")
    console.print(
        f"[bold]{mv.label}[/] stage={mv.stage} algorithm={mv.algorithm} "
        f"fingerprint={mv.data_fingerprint[:12]} run={mv.run_id}"
    )
    table = Table("metric", "value")
    for k, v in mv.metrics.items():
        table.add_row(k, _fmt(v))
    console.print(table)
    console.print("params: " + ", ".join(f"{k}={v}" for k, v in mv.params.items()))
    for g in reg.gates(name, limit=5):
        mark = "[green]pass[/]" if g["passed"] else "[red]fail[/]"
        console.print(f"gate v{g['candidate_version']}: {mark} {g['reason']}")


@models_cli.command("promote")
def models_promote(ctx: typer.Context, name: str, version: int) -> None:
    """Make VERSION production (the current one is archived)."""
    mv = run_or_fail(platform_of(ctx).promote, name, version, actor="cli")
    console.print(f"{mv.label} is now production")


@models_cli.command("rollback")
def models_rollback(ctx: typer.Context, name: str) -> None:
    """Bring back the previous production version."""
    mv = run_or_fail(platform_of(ctx).rollback, name, actor="cli")
    console.print(f"rolled back: {mv.label} is production again")


def monitor(
    ctx: typer.Context,
    model: str | None = typer.Argument(None, help="One model; every model if omitted."),
) -> None:
    """Check drift (recent inputs against the training reference) and accuracy (outcomes
    posted back) now, and print both."""
    platform = platform_of(ctx)
    specs = (
        [run_or_fail(platform.model_spec, model)]
        if model
        else [spec for _, spec in platform.model_specs()]
    )
    for spec in specs:
        report = platform.monitor.check(spec.name, task=spec.task)
        verdict = "[red]drifted[/]" if report["drifted"] else "[green]stable[/]"
        console.rule(f"{spec.name} ({report['model_version'] or 'no production model'}) {verdict}")
        found = report["drift"]
        if found is None:
            console.print("drift: no training reference stored for this model")
        else:
            table = Table("feature", "test", "statistic", "PSI", "drifted", "rows")
            for f in found["features"]:
                table.add_row(
                    f["name"],
                    f["method"],
                    _fmt(f["statistic"]),
                    _fmt(f["psi"]),
                    "[red]yes[/]" if f["drifted"] else "no",
                    str(f["n_current"]),
                )
            console.print(table)
        accuracy = report["accuracy"]
        console.print(
            "accuracy on outcomes: "
            + (", ".join(f"{k} {_fmt(v)}" for k, v in accuracy.items()) or "no outcomes yet")
        )
