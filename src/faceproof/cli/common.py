"""Pieces every CLI command shares: the service, progress bars, JSON output, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)

#: Exit codes (documented in docs/usage.md): scripts can branch on the verdict without parsing output.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DIFFERENT_PERSON = 3
EXIT_SUSPECTED_FAKE = 4
EXIT_INCONCLUSIVE = 5
VERDICT_EXIT = {
    "genuine": EXIT_OK,
    "likely_real": EXIT_OK,
    "different_person": EXIT_DIFFERENT_PERSON,
    "suspected_fake": EXIT_SUSPECTED_FAKE,
    "inconclusive": EXIT_INCONCLUSIVE,
}

#: The colour of each tone of faceproof.decision.wording in the terminal (the page's colours, in rich's words).
TONE_COLOURS = {"pass": "green", "warn": "yellow", "fail": "red", "neutral": "bright_black"}


def toned(text: str, tone: str, *, bold: bool = False) -> str:
    """``text`` in rich markup coloured by its tone (``[`` escaped, so a message cannot inject markup)."""
    from rich.markup import escape

    style = f"bold {TONE_COLOURS[tone]}" if bold else TONE_COLOURS[tone]
    return f"[{style}]{escape(text)}[/{style}]"


@contextmanager
def open_service() -> Iterator[Any]:
    from faceproof.config import Settings
    from faceproof.service import Service

    service = Service.open(Settings.from_env())
    try:
        yield service
    finally:
        service.close()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


def emit_json(document: Any) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, default=str))


def fail(exc: Any) -> None:
    """Print a FaceproofError readably and exit 1."""
    err_console.print(f"[red]error[/red] {exc.code}: {exc.message}")
    raise typer.Exit(EXIT_ERROR)


class EngineChoice(StrEnum):
    local = "local"
    ray = "ray"


EngineOption = Annotated[
    EngineChoice,
    typer.Option(
        "--engine",
        help="Where the analysis runs: 'local' (a process pool on this machine) or 'ray' (pip install faceproof[ray]).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Worker processes (default: every core here / every CPU of the cluster)."),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option("--ray-address", help="A running Ray cluster, e.g. ray://head:10001 (default: start a local one)."),
]


@contextmanager
def engine_with_progress(
    description: str, engine: EngineChoice, workers: int | None, ray_address: str | None
) -> Iterator[tuple[Any, Callable[[int, int], None]]]:
    """The batch engine of a command's ``--engine/--workers/--ray-address`` options and a progress bar that names
    it; yields (engine, progress callback) and closes both afterwards."""
    from faceproof.batch import open_engine

    if ray_address and engine is not EngineChoice.ray:
        err_console.print("[red]error[/red] --ray-address needs --engine ray")
        raise typer.Exit(2)
    try:
        runner = open_engine(engine.value, workers, ray_address)
    except RuntimeError as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"{description} ({runner.name}, {runner.workers} workers)", total=None)
            yield runner, lambda done, total: bar.update(task, completed=done, total=total)
    finally:
        runner.close()
