"""What every CLI command shares: the console, errors as one red line, progress bars, and
the process's :class:`Platform` handed down through Typer's context.

App CLIs import this module, never ``foresight.cli``: the top-level CLI loads the apps,
so an app importing it back would be a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from foresight.platform.errors import ForesightError

console = Console()


class PlatformHandle:
    """Builds the platform on first use (migrations run then) and closes it at exit."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._platform: Any = None

    def get(self) -> Any:
        if self._platform is None:
            self._platform = self._factory()
        return self._platform

    def close(self) -> None:
        if self._platform is not None:
            self._platform.close()
            self._platform = None


def platform_of(ctx: typer.Context) -> Any:
    """The :class:`~foresight.platform.runtime.Platform` of this command's process."""
    handle = ctx.find_root().obj
    if not isinstance(handle, PlatformHandle):
        raise RuntimeError("the foresight CLI sets up the platform handle in its callback")
    return run_or_fail(handle.get)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def run_or_fail(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; a :class:`ForesightError` becomes a red message and exit 1."""
    try:
        return fn(*args, **kwargs)
    except ForesightError as exc:
        extra = exc.details if exc.details and not isinstance(exc.details, list) else None
        fail(exc.message + (f"\n{extra}" if extra else ""))


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
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
