"""`clickfunnels contacts export`: every contact of a workspace to JSON Lines or CSV, resumable."""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import attrs
import typer

from clickfunnels_async import Filter, PaginationError
from clickfunnels_async._generated.operation_table import OPERATIONS
from clickfunnels_async.models import Contact

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    FilterOption,
    SummaryJsonOption,
    UsageProblem,
    WorkspaceOption,
    fail,
    observed,
    parse_filters,
    reported_errors,
    run_async,
    say,
    settings,
    workspace,
)
from ._progress import ProgressOption, progress_line

LIST_OP = OPERATIONS["listContacts"]


class Format(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@attrs.define
class _ExportCheckpoint:
    """The sidecar next to an export: where to continue and how much of the file is complete."""

    path: Path
    workspace_id: int
    filter: dict[str, Any]
    format: str
    cursor: str | None = None
    bytes: int = 0
    rows: int = 0
    columns: list[str] | None = None

    def key(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id, "filter": self.filter, "format": self.format}

    def save(self) -> None:
        data = {
            **self.key(),
            "cursor": self.cursor,
            "bytes": self.bytes,
            "rows": self.rows,
            "columns": self.columns,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    def load_into(self) -> bool:
        """Read a saved checkpoint (False if none); refuse one written for another export."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            raise UsageProblem(f"cannot read the checkpoint {self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageProblem(f"the checkpoint {self.path} is not an export checkpoint")
        stored = {k: data.get(k) for k in self.key()}
        if stored != self.key():
            raise UsageProblem(
                f"the checkpoint {self.path} belongs to another export ({stored}); "
                "run with --restart to start over"
            )
        self.cursor, self.bytes, self.rows = (
            data.get("cursor"),
            int(data["bytes"]),
            int(data["rows"]),
        )
        self.columns = data.get("columns")
        return True


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _render(
    items: list[dict[str, Any]], fmt: Format, checkpoint: _ExportCheckpoint, header: bool
) -> bytes:
    if fmt is Format.jsonl:
        return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items).encode()
    if checkpoint.columns is None:
        # Every field the spec knows, then anything newer the first page shows.
        known = [f.name for f in attrs.fields(Contact) if f.name != "additional_properties"]
        first = items[0] if items else {}
        checkpoint.columns = known + [k for k in first if k not in known]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(checkpoint.columns)
    columns = set(checkpoint.columns)
    for item in items:
        unknown = [k for k in item if k not in columns]
        if unknown:
            # A CSV header cannot grow; dropping the values silently would lose data.
            fail(
                f"contact {item.get('id')} has field(s) {', '.join(unknown)} that are not in the CSV header; "
                "export with --format jsonl to keep every field"
            )
        writer.writerow([_csv_cell(item.get(c)) for c in checkpoint.columns])
    return buffer.getvalue().encode()


def export(
    ctx: typer.Context,
    workspace_id: WorkspaceOption = None,
    filter: FilterOption = None,
    format: Annotated[
        Format | None,
        typer.Option("--format", help="jsonl or csv (default: from -o's suffix, else jsonl)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted export from its checkpoint.")
    ] = False,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Drop an interrupted export's checkpoint and start over."),
    ] = False,
    show_progress: ProgressOption = None,
    json_out: SummaryJsonOption = False,
) -> None:
    """Stream every contact of a workspace to JSON Lines or CSV, page by page.

    With -o, a checkpoint (FILE.checkpoint.json) is kept next to the file after every page and removed when
    the export is complete; --resume continues from it and gives the same file an uninterrupted run would.
    An existing checkpoint is never overwritten silently: pass --resume or --restart.
    """
    with reported_errors():
        workspace_id = workspace(workspace_id)
        flt = parse_filters(filter or [], LIST_OP.filter_keys)
        fmt = format or (
            Format.csv if output is not None and output.suffix.lower() == ".csv" else Format.jsonl
        )
        if resume and restart:
            raise UsageProblem("--resume continues, --restart starts over: give one")
        if (resume or restart) and output is None:
            flag = "--resume" if resume else "--restart"
            raise UsageProblem(f"{flag} needs -o FILE (the checkpoint lives next to it)")
        if json_out and output is None:
            raise UsageProblem(
                "--json prints a summary on stdout, which would mix with the rows; add -o FILE"
            )
        config = settings(ctx)
        cf = config.client()  # a bad setup is reported before any file is touched
        retries = config.retries
        checkpoint = _ExportCheckpoint(
            Path(str(output) + ".checkpoint.json") if output is not None else Path(os.devnull),
            workspace_id,
            flt,
            fmt.value,
        )
        resumed = False
        if output is not None:
            if resume:
                resumed = checkpoint.load_into()
                if not resumed:
                    say(f"No checkpoint next to {output}; starting from the beginning.")
            elif checkpoint.path.exists():
                if not restart:
                    raise UsageProblem(
                        f"{checkpoint.path} is there: an export to {output} was interrupted. "
                        "Add --resume to continue it, or --restart to start over"
                    )
                checkpoint.path.unlink()
        out: IO[bytes]
        try:
            if output is None:
                out = sys.stdout.buffer
            elif resumed:
                size = output.stat().st_size
                if size < checkpoint.bytes:
                    raise UsageProblem(
                        f"{output} is shorter ({size} bytes) than its checkpoint says ({checkpoint.bytes}); "
                        "run with --restart to start over"
                    )
                out = open(output, "r+b")  # noqa: SIM115 - closed below
                out.truncate(checkpoint.bytes)  # drop a page written after the last checkpoint
                out.seek(checkpoint.bytes)
            else:
                out = open(output, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageProblem(f"cannot write {output}: {exc.strerror or exc}") from None

        state = {"pages": 0}

        async def go() -> None:
            with progress_line(show_progress, retries) as progress:
                task = progress.add_task(
                    "Exporting contacts", total=None, completed=checkpoint.rows
                )
                async with cf:
                    if resumed and checkpoint.cursor is None and checkpoint.rows:
                        return  # the checkpoint was saved after the last page: nothing is missing
                    pages = cf.contacts.list(
                        workspace_id, filter=Filter(flt) if flt else None, after=checkpoint.cursor
                    ).pages()
                    async for page in pages:
                        items = page.response.json()
                        header = (
                            fmt is Format.csv and checkpoint.bytes == 0 and checkpoint.rows == 0
                        )
                        data = _render(items, fmt, checkpoint, header)
                        out.write(data)
                        out.flush()
                        checkpoint.rows += len(items)
                        checkpoint.cursor = page.next_cursor
                        if output is not None:
                            checkpoint.bytes = out.tell()
                            checkpoint.save()
                        state["pages"] += 1
                        progress.update(task, completed=checkpoint.rows)
                    if fmt is Format.csv and checkpoint.rows == 0 and checkpoint.bytes == 0:
                        out.write(_render([], fmt, checkpoint, header=True))

        interrupted = False
        try:
            with observed():
                run_async(go)
        except KeyboardInterrupt:
            interrupted = True
        except PaginationError as exc:  # the list ended early: never a short file with exit code 0
            hint = (
                f"run again with --resume to continue {output}"
                if output is not None
                else "use -o FILE to resume"
            )
            fail(
                f"{exc}; {checkpoint.rows} contacts written, the export is incomplete: {hint}",
                EXIT_FAILED,
            )
        finally:
            if output is not None:
                out.close()
        if interrupted:
            say(
                f"Interrupted after {checkpoint.rows} contacts. "
                + (f"Run again with --resume to continue {output}." if output is not None else ""),
                style="yellow",
            )
            raise typer.Exit(EXIT_INTERRUPTED)
        if output is not None:
            checkpoint.path.unlink(missing_ok=True)
        summary = {
            "rows": checkpoint.rows,
            "pages": state["pages"],
            "output": str(output) if output else None,
            "format": fmt.value,
            "resumed": resumed,
            "retries": retries.count,
        }
        if json_out:
            typer.echo(json.dumps(summary))
        else:
            say(
                f"Exported {checkpoint.rows} contacts"
                + (f" to {output}" if output else "")
                + f" ({retries.count} retries)."
            )
