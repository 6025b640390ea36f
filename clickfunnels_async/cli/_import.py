"""`clickfunnels contacts import`: upsert every row of a CSV or JSON Lines file, in parallel, resumable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from clickfunnels_async import bulk

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    SummaryJsonOption,
    UsageProblem,
    WorkspaceOption,
    observed,
    reported_errors,
    run_async,
    say,
    settings,
    workspace,
)
from ._progress import ProgressOption, progress_line
from ._rows import Row, Source, normal_name
from ._shared import is_shared, parse_shard, shared_checkpoint


class InvalidRow(ValueError):
    """A row the CLI did not send: its failures-file record says why (`error.type` is this name)."""


class _RowCall(bulk.Call):
    """`cf.contacts.upsert(workspace_id, **fields)` for one row, which stays attached for reporting."""

    __slots__ = ("row",)

    def __init__(self, row: Row, workspace_id: int) -> None:
        super().__init__(workspace_id, **row.fields)
        self.row = row


def _describe(item: _RowCall | Row) -> dict[str, Any]:
    row = item.row if isinstance(item, _RowCall) else item
    return {"line": row.line, "input": row.fields}


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
            raise UsageProblem(
                f"cannot read the checkpoint {self.path}: {exc.strerror or exc}"
            ) from None

    def open(self) -> None:
        try:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise UsageProblem(
                f"cannot write the checkpoint {self.path}: {exc.strerror or exc}"
            ) from None

    def confirm(self, digest: str) -> None:
        assert self._file is not None
        self._file.write(digest + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _columns(values: list[str] | None) -> frozenset[str]:
    return frozenset(normal_name(v) for item in values or [] for v in item.split(",") if v.strip())


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header (email_address required), or JSON Lines; an export's file works."
        ),
    ],
    workspace_id: WorkspaceOption = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=256)] = 32,
    failures: Annotated[
        Path | None,
        typer.Option(
            "--failures",
            help="Write failed and invalid rows here, with their line (JSON Lines; import it to retry).",
        ),
    ] = None,
    ignore_columns: Annotated[
        list[str] | None,
        typer.Option("--ignore-columns", help="Columns (or JSON keys) to skip: a,b or repeated."),
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
        typer.Option(
            "--shard",
            help="I/N: do every N-th row starting at row I (needs --checkpoint redis://…).",
        ),
    ] = None,
    show_progress: ProgressOption = None,
    json_out: SummaryJsonOption = False,
) -> None:
    """Upsert every row as a contact (matched by email), in parallel.

    The file is read completely before anything is sent: a problem with the file (unreadable, no header,
    an unknown column) stops here with exit code 2. Columns an export has but the API does not take (id,
    created_at, ...) are skipped with a note. A bad row (no or an invalid email, a wrong number of fields)
    is not sent: it goes to the failures file with its line and the reason, and the others go on.
    Confirmed rows are recorded in a checkpoint, so running the same command again (after a failure or
    Ctrl-C) skips them; it is removed once every row went through. Exit code 1 if any row failed or was
    invalid, 2 for bad input, 130 when interrupted.
    """
    with reported_errors():
        workspace_id = workspace(workspace_id)
        if failures is not None and failures.resolve() == file.resolve():
            raise UsageProblem("--failures must not be the input file")
        source = Source(file, workspace_id, _columns(ignore_columns))
        total = invalid_total = 0
        for row in source.rows():  # checks the whole file; nothing sent yet
            total += 1
            invalid_total += row.problem is not None
        if source.read_only:
            say(
                "Note: skipping the column(s) the API does not take (read-only): "
                + ", ".join(sorted(source.read_only))
            )
        shard_pair = parse_shard(shard)
        shared = (
            shared_checkpoint(checkpoint_path, file, workspace_id)
            if checkpoint_path is not None and is_shared(checkpoint_path)
            else None
        )
        if shard_pair is not None and shared is None:
            raise UsageProblem(
                "--shard needs a checkpoint the workers share: --checkpoint redis://HOST:PORT/DB"
            )
        checkpoint = _ImportCheckpoint(Path(checkpoint_path or str(file) + ".checkpoint"))
        if shared is None:
            checkpoint.load()
        skipped = 0
        invalid: list[Row] = []

        log = None
        if failures is not None:
            log = bulk.FailureLog(failures, describe=_describe)
            try:
                log.open()
            except OSError as exc:
                raise UsageProblem(f"cannot write {failures}: {exc.strerror or exc}") from None

        def pending() -> Iterator[Row]:
            nonlocal skipped
            for ordinal, row in enumerate(source.rows()):
                if row.problem is not None:
                    # Each worker of a sharded job reports its share of the invalid rows.
                    if shard_pair is None or ordinal % shard_pair[1] == shard_pair[0]:
                        invalid.append(row)
                        if log is not None:
                            log.write("invalid", ordinal, row, InvalidRow(row.problem))
                    else:
                        skipped += 1
                elif row.digest in checkpoint.done:
                    skipped += 1
                else:
                    yield row

        config = settings(ctx)
        cf = config.client(max_concurrency=concurrency)  # a bad setup stops before any work
        retries = config.retries
        failed_examples: list[bulk.Failed[_RowCall]] = []
        holder: dict[str, bulk.Summary[_RowCall]] = {}
        if shared is None:
            checkpoint.open()

        async def go() -> None:
            with progress_line(show_progress, retries, total=total) as progress:
                task = progress.add_task("Importing contacts", total=total, completed=0)
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
                                state = results.progress()
                                progress.update(
                                    task,
                                    completed=skipped + len(invalid) + state.done + state.skipped,
                                    failed=state.failed + len(invalid),
                                )
                    finally:
                        holder["summary"] = results.summary
                        if shared is not None:
                            await shared.aclose()

        interrupted = False
        input_problem: bulk.BulkInputError | None = None
        try:
            with observed():
                run_async(go)
        except KeyboardInterrupt:
            interrupted = True
        except (
            bulk.BulkInputError
        ) as exc:  # the file changed under us between the check and the run
            input_problem = exc
        finally:
            checkpoint.close()
            if log is not None:
                log.close()
        summary = holder.get("summary")
        if summary is None:  # interrupted before the run started
            raise typer.Exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILED)
        for bad in invalid[:5]:
            say(f"{bad.problem}; not sent", style="red")
        for failure in failed_examples:
            row = failure.input.row
            say(
                f"line {row.line} ({row.fields.get('email_address')}): {failure.error}", style="red"
            )
        skipped += summary.skipped  # rows of other shards, or confirmed by any worker
        not_read = total - skipped - len(invalid) - summary.started
        report = {
            "rows": total,
            "skipped": skipped,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "invalid": len(invalid),
            "reconciled": summary.reconciled,
            "maybe_applied": summary.maybe_applied,
            "unfinished": len(summary.unfinished),
            "not_started": max(0, not_read),
            "retries": retries.count,
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
            f"{summary.succeeded} upserted, {summary.failed} failed, {len(invalid)} invalid (not sent), "
            f"{skipped} skipped ({'other shards or ' if shard_pair else ''}already confirmed) "
            f"of {total} rows in {summary.elapsed:.1f} s ({summary.rate:.0f} rows/s, "
            f"{retries.count} retries)"
        )
        if summary.unfinished or not_read > 0:
            text += (
                f"; not done: {len(summary.unfinished)} cut short, {max(0, not_read)} not started"
            )
        say(text, style="green" if complete and not invalid else "yellow")
        if (summary.failed or invalid) and failures is not None:
            say(
                f"Failed and invalid rows are in {failures}; fix and import that file to retry them."
            )
        if not complete:
            where = "the shared checkpoint" if shared is not None else str(checkpoint.path)
            say(f"Run the same command again to continue; {where} skips confirmed rows.")
        if input_problem is not None:
            raise UsageProblem(str(input_problem.error))
        if interrupted:
            raise typer.Exit(EXIT_INTERRUPTED)
        failed = summary.failed or invalid or not summary.ok
        raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
