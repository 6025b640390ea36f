"""`clickfunnels contacts export` and `clickfunnels contacts import`."""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Annotated, Any

import attrs
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from clickfunnels_async import PaginationError, bulk
from clickfunnels_async._operations import OPERATIONS
from clickfunnels_async.models import Contact

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageProblem,
    fail,
    parse_filters,
    reported_errors,
    run_async,
    say,
    settings,
    stderr,
)
from ._shared import is_shared, parse_shard, shared_checkpoint

app = typer.Typer(help="Export and import contacts.", no_args_is_help=True)

LIST_OP = OPERATIONS["listContacts"]
UPSERT_OP = OPERATIONS["upsertContacts"]


class Format(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _progress(enabled: bool, *, total: int | None = None) -> Progress:
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed} rows")]
    columns += [TimeElapsedColumn(), TextColumn("{task.fields[note]}")]
    return Progress(*columns, console=stderr(), disable=not enabled, transient=False)


# ---------------------------------------------------------------------------------------------- export


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
        data = {**self.key(), "cursor": self.cursor, "bytes": self.bytes, "rows": self.rows,
                "columns": self.columns}
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
                "run without --resume to start over"
            )
        self.cursor, self.bytes, self.rows = data.get("cursor"), int(data["bytes"]), int(data["rows"])
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


def _render(items: list[dict[str, Any]], fmt: Format, checkpoint: _ExportCheckpoint, header: bool) -> bytes:
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


@app.command("export")
def export(
    ctx: typer.Context,
    workspace_id: Annotated[int, typer.Option("--workspace-id", help="Workspace to export from.")],
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="key=value (repeat, or value1,value2, for any of several values)."),
    ] = None,
    format: Annotated[
        Format | None, typer.Option("--format", help="jsonl or csv (default: from -o's suffix, else jsonl).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted export from its checkpoint.")
    ] = False,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Stream every contact of a workspace to JSON Lines or CSV, page by page.

    With -o, a checkpoint (FILE.checkpoint.json) is kept next to the file after every page and removed when
    the export is complete; --resume continues from it and gives the same file an uninterrupted run would.
    """
    with reported_errors():
        flt = parse_filters(filter or [], LIST_OP.filter_keys)
        fmt = format or (Format.csv if output is not None and output.suffix.lower() == ".csv" else Format.jsonl)
        if resume and output is None:
            raise UsageProblem("--resume needs -o FILE (the checkpoint lives next to it)")
        if json_out and output is None:
            raise UsageProblem("--json prints a summary on stdout, which would mix with the rows; add -o FILE")
        cf = settings(ctx).client()  # a bad setup is reported before any file is touched
        checkpoint = _ExportCheckpoint(
            Path(str(output) + ".checkpoint.json") if output is not None else Path(os.devnull),
            workspace_id, flt, fmt.value,
        )
        resumed = False
        if output is not None:
            if resume:
                resumed = checkpoint.load_into()
                if not resumed:
                    say(f"No checkpoint next to {output}; starting from the beginning.")
            elif checkpoint.path.exists():
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
                        "run without --resume to start over"
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
            progress = _progress(show_progress)
            with progress:
                task = progress.add_task("Exporting contacts", total=None, completed=checkpoint.rows, note="")
                async with cf:
                    if resumed and checkpoint.cursor is None and checkpoint.rows:
                        return  # the checkpoint was saved after the last page: nothing is missing
                    pages = cf.contacts.list(workspace_id, filter=flt or None, after=checkpoint.cursor).pages()
                    async for page in pages:
                        items = page.response.json()
                        header = fmt is Format.csv and checkpoint.bytes == 0 and checkpoint.rows == 0
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
            run_async(go)
        except KeyboardInterrupt:
            interrupted = True
        except PaginationError as exc:  # the list ended early: never a short file with exit code 0
            hint = f"run again with --resume to continue {output}" if output is not None else "use -o FILE to resume"
            fail(f"{exc}; {checkpoint.rows} contacts written, the export is incomplete: {hint}", EXIT_FAILED)
        finally:
            if output is not None:
                out.close()
        if interrupted:
            say(
                f"Interrupted after {checkpoint.rows} contacts. "
                + (f"Run again with --resume to continue {output}." if output is not None else "")
            , style="yellow")
            raise typer.Exit(EXIT_INTERRUPTED)
        if output is not None:
            checkpoint.path.unlink(missing_ok=True)
        summary = {"rows": checkpoint.rows, "pages": state["pages"], "output": str(output) if output else None,
                   "format": fmt.value, "resumed": resumed}
        if json_out:
            typer.echo(json.dumps(summary))
        else:
            say(f"Exported {checkpoint.rows} contacts" + (f" to {output}" if output else "") + ".")


# ---------------------------------------------------------------------------------------------- import


_ALIASES = {"email": "email_address", "e-mail": "email_address", "phone": "phone_number"}


@attrs.frozen(slots=True)
class _Row:
    line: int  # line of the file the row starts on
    fields: dict[str, Any]
    digest: str


def _field_name(raw: str, where: str) -> str:
    name = raw.strip().lower().replace(" ", "_")
    name = _ALIASES.get(name, name)
    if name.startswith("custom_attributes.") and len(name) > len("custom_attributes."):
        return "custom_attributes." + raw.strip().split(".", 1)[1]
    if name not in UPSERT_OP.body_fields:
        raise UsageProblem(
            f"{where}: unknown column {raw!r}; use {', '.join(UPSERT_OP.body_fields)} "
            "or custom_attributes.<name>"
        )
    return name


def _convert(raw: Mapping[str, Any], where: str, *, from_json: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in raw.items():
        name = _field_name(key, where)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name.startswith("custom_attributes."):
            custom[name.split(".", 1)[1]] = value
        elif name == "tag_ids":
            parts = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
            try:
                fields["tag_ids"] = [int(str(p).strip()) for p in parts if str(p).strip()]
            except ValueError:
                raise UsageProblem(f"{where}: tag_ids must be numbers separated by ';', not {value!r}") from None
        elif name == "custom_attributes":
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise UsageProblem(f"{where}: custom_attributes must be a JSON object") from None
            if not isinstance(value, dict):
                raise UsageProblem(f"{where}: custom_attributes must be a JSON object")
            custom.update(value)
        else:
            fields[name] = value.strip() if isinstance(value, str) else value
            if not from_json and not isinstance(value, str):
                fields[name] = str(value)
    if custom:
        fields["custom_attributes"] = custom
    email = fields.get("email_address")
    if not isinstance(email, str) or not email:
        raise UsageProblem(f"{where}: no email_address (contacts are matched by email)")
    return fields


def _digest(workspace_id: int, fields: Mapping[str, Any]) -> str:
    text = json.dumps({"workspace_id": workspace_id, "fields": fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read_rows(path: Path, workspace_id: int) -> Iterator[_Row]:
    """The rows of a CSV (with a header) or JSON Lines file (objects, or a failures file's records)."""
    try:
        file = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    with file:
        try:
            if path.suffix.lower() in (".jsonl", ".ndjson"):
                yield from _read_jsonl(file, path, workspace_id)
            else:
                yield from _read_csv(file, path, workspace_id)
        except UnicodeDecodeError as exc:
            raise UsageProblem(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_csv(file: IO[str], path: Path, workspace_id: int) -> Iterator[_Row]:
    reader = csv.reader(file, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise UsageProblem(f"{path}: the file is empty (expected a header with an email_address column)") from None
    except csv.Error as exc:
        raise UsageProblem(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
    names = [_field_name(h, f"{path}, header") for h in header]
    if "email_address" not in names:
        raise UsageProblem(f"{path}: no email_address (or email) column; found: {', '.join(header) or 'none'}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageProblem(f"{path}, header: column(s) given twice: {', '.join(duplicated)}")
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UsageProblem(f"{path}, line {line}: malformed CSV ({exc})") from None
        where = f"{path}, line {line}"
        if cells and len(cells) != len(names):
            raise UsageProblem(f"{where}: {len(cells)} fields, but the header has {len(names)}")
        if cells and any(c.strip() for c in cells):
            fields = _convert(dict(zip(names, cells, strict=True)), where, from_json=False)
            yield _Row(line, fields, _digest(workspace_id, fields))
        line = reader.line_num + 1


def _read_jsonl(file: IO[str], path: Path, workspace_id: int) -> Iterator[_Row]:
    for number, text in enumerate(file, 1):
        if not text.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise UsageProblem(f"{where}: not JSON ({exc})") from None
        if isinstance(record, dict) and "input" in record and "error" in record:
            record = record["input"]  # a line of a failures file: run its input again
        if not isinstance(record, dict):
            raise UsageProblem(f"{where}: expected a JSON object of contact fields")
        fields = _convert(record, where, from_json=True)
        yield _Row(number, fields, _digest(workspace_id, fields))


class _RowCall(bulk.Call):
    """`cf.contacts.upsert(workspace_id, **fields)` for one row, which stays attached for reporting."""

    __slots__ = ("row",)

    def __init__(self, row: _Row, workspace_id: int) -> None:
        super().__init__(workspace_id, **row.fields)
        self.row = row


class _ImportCheckpoint:
    """Digests of the rows the API confirmed, one per line; a re-run skips rows whose digest is here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        self._file: IO[str] | None = None

    def load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as file:
                self.done = {line.strip() for line in file if line.strip()}
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageProblem(f"cannot read the checkpoint {self.path}: {exc.strerror or exc}") from None

    def open(self) -> None:
        try:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise UsageProblem(f"cannot write the checkpoint {self.path}: {exc.strerror or exc}") from None

    def confirm(self, digest: str) -> None:
        assert self._file is not None
        self._file.write(digest + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with a header (email_address required), or JSON Lines.")],
    workspace_id: Annotated[int, typer.Option("--workspace-id", help="Workspace to import into.")],
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=256)] = 32,
    failures: Annotated[
        Path | None, typer.Option("--failures", help="Write failed rows here (JSON Lines; import it to retry).")
    ] = None,
    checkpoint_path: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="A file (default: FILE.checkpoint next to the input), or redis://HOST:PORT/DB to share "
            "it between workers.",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="I/N: do every N-th row starting at row I (needs --checkpoint redis://…)."),
    ] = None,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Upsert every row as a contact (matched by email), in parallel.

    The file is checked completely before anything is sent. Confirmed rows are recorded in a checkpoint,
    so running the same command again (after a failure or Ctrl-C) skips them; it is removed once every row
    went through. Exit code 1 if any row failed, 2 for bad input, 130 when interrupted.
    """
    with reported_errors():
        if failures is not None and failures.resolve() == file.resolve():
            raise UsageProblem("--failures must not be the input file")
        total = sum(1 for _ in _read_rows(file, workspace_id))  # validates every row; nothing sent yet
        shard_pair = parse_shard(shard)
        shared = (
            shared_checkpoint(checkpoint_path, file, workspace_id)
            if checkpoint_path is not None and is_shared(checkpoint_path)
            else None
        )
        if shard_pair is not None and shared is None:
            raise UsageProblem("--shard needs a checkpoint the workers share: --checkpoint redis://HOST:PORT/DB")
        checkpoint = _ImportCheckpoint(Path(checkpoint_path or str(file) + ".checkpoint"))
        if shared is None:
            checkpoint.load()
        skipped = 0

        def pending() -> Iterator[_Row]:
            nonlocal skipped
            for row in _read_rows(file, workspace_id):
                if row.digest in checkpoint.done:
                    skipped += 1
                    continue
                yield row

        log = None
        if failures is not None:
            log = bulk.FailureLog(
                failures, describe=lambda call: {"line": call.row.line, "input": call.row.fields}
            )
            try:
                log.open()
            except OSError as exc:
                raise UsageProblem(f"cannot write {failures}: {exc.strerror or exc}") from None
        cf = settings(ctx).client(max_concurrency=concurrency)  # a bad setup is reported before any work
        failed_examples: list[bulk.Failed[_RowCall]] = []
        holder: dict[str, bulk.Summary[_RowCall]] = {}
        if shared is None:
            checkpoint.open()

        async def go() -> None:
            progress = _progress(show_progress, total=total)
            with progress:
                task = progress.add_task("Importing contacts", total=total, completed=0, note="")
                async with cf:

                    # The generated method itself, so that bulk reconciles an ambiguous failure by email.
                    calls = (_RowCall(row, workspace_id) for row in pending())
                    results = bulk.run(
                        cf.contacts.upsert,
                        calls,
                        concurrency=concurrency,
                        failures=log,
                        checkpoint=shared,
                        shard=shard_pair,
                    )
                    try:
                        async with results:
                            async for result in results:
                                if isinstance(result, bulk.Succeeded):
                                    if shared is None:
                                        checkpoint.confirm(result.input.row.digest)
                                elif len(failed_examples) < 5:
                                    failed_examples.append(result)
                                progress.update(
                                    task,
                                    completed=skipped + results.progress().done + results.progress().skipped,
                                    note=f"{results.progress().failed} failed" if results.progress().failed else "",
                                )
                    finally:
                        holder["summary"] = results.summary
                        if shared is not None:
                            await shared.aclose()

        interrupted = False
        input_problem: bulk.BulkInputError | None = None
        try:
            run_async(go)
        except KeyboardInterrupt:
            interrupted = True
        except bulk.BulkInputError as exc:  # the file changed under us between the check and the run
            input_problem = exc
        finally:
            checkpoint.close()
        summary = holder.get("summary")
        if summary is None:  # interrupted before the run started
            raise typer.Exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILED)
        for failure in failed_examples:
            row = failure.input.row
            say(f"line {row.line} ({row.fields.get('email_address')}): {failure.error}",
                style="red")
        skipped += summary.skipped  # rows of other shards, or confirmed by any worker
        not_read = total - skipped - summary.started
        report = {
            "rows": total,
            "skipped": skipped,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "reconciled": summary.reconciled,
            "maybe_applied": summary.maybe_applied,
            "unfinished": len(summary.unfinished),
            "not_started": max(0, not_read),
            "elapsed": round(summary.elapsed, 3),
            "rate": round(summary.rate, 1),
            "interrupted": interrupted,
            "failures_file": str(failures) if failures is not None else None,
            "checkpoint": repr(shared) if shared is not None else str(checkpoint.path),
        }
        complete = not interrupted and summary.ok
        if complete and shared is None:  # a shared one may still serve other workers; it expires
            checkpoint.path.unlink(missing_ok=True)
            report["checkpoint"] = None
        if json_out:
            typer.echo(json.dumps(report))
        text = (
            f"{summary.succeeded} upserted, {summary.failed} failed, {skipped} skipped "
            f"({'other shards or ' if shard_pair else ''}already confirmed) "
            f"of {total} rows in {summary.elapsed:.1f} s ({summary.rate:.0f} rows/s)"
        )
        if summary.unfinished or not_read > 0:
            text += f"; not done: {len(summary.unfinished)} cut short, {max(0, not_read)} not started"
        say(text, style="green" if complete else "yellow")
        if summary.failed and failures is not None:
            say(f"Failed rows are in {failures}; import that file to retry them.")
        if not complete:
            where = "the shared checkpoint" if shared is not None else str(checkpoint.path)
            say(f"Run the same command again to continue; {where} skips confirmed rows.")
        if input_problem is not None:
            raise UsageProblem(str(input_problem.error))
        if interrupted:
            raise typer.Exit(EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_FAILED if summary.failed or not summary.ok else EXIT_OK)
