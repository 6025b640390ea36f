"""The progress line of `contacts export` and `contacts import`: rows, rate, ETA, retries; on stderr only."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from ._common import RetryCounter, is_quiet, stderr

ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Show the progress line on stderr (default: when stderr is a terminal and not -q).",
        show_default=False,
    ),
]


class _Rate(ProgressColumn):
    """Rows per second: rich's moving estimate, else the average since the start (a short run)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.elapsed:
            speed = (task.completed - task.fields.get("start", 0)) / task.elapsed
        return Text(f"{speed:,.0f} rows/s" if speed is not None else "- rows/s")


class _Counts(ProgressColumn):
    """Retries (of any request, counted live from the SDK's log) and failed rows, when there are any."""

    def __init__(self, retries: RetryCounter) -> None:
        super().__init__()
        self.retries = retries

    def render(self, task: Task) -> Text:
        parts = [f"{self.retries.count} retries"]
        failed = task.fields.get("failed", 0)
        if failed:
            parts.append(f"{failed} failed")
        return Text(", ".join(parts))


def progress_line(
    wanted: bool | None, retries: RetryCounter, *, total: int | None = None
) -> Progress:
    """A rich progress display on stderr, off unless asked for or stderr is a terminal (and not -q);
    the remaining time only when the total is known."""
    console = stderr()
    enabled = wanted if wanted is not None else console.is_terminal and not is_quiet()
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed} rows")]
    columns += [_Rate(table_column=Column(no_wrap=True)), TimeElapsedColumn()]
    if total is not None:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    columns.append(_Counts(retries))
    return Progress(*columns, console=console, disable=not enabled, transient=False)
