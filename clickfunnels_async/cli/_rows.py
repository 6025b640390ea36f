"""Reading `contacts import` files: CSV with a header, or JSON Lines (also a failures file or an export).

A problem with the file as a whole (unreadable, not UTF-8, no header, an unknown column, broken CSV
quoting) raises `UsageProblem` before anything is sent. A problem with one row (no or an invalid email
address, a bad tag id, a wrong number of fields, a line that is not JSON) makes that row a `Row` with a
`problem`: it is reported with its line number and never sent, and the other rows go on.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from clickfunnels_async._generated.operation_table import OPERATIONS
from clickfunnels_async.models import Contact

from ._common import UsageProblem

__all__ = ["READ_ONLY", "Row", "Source", "normal_name"]

UPSERT_OP = OPERATIONS["upsertContacts"]
_ALIASES = {"email": "email_address", "e-mail": "email_address", "phone": "phone_number"}
# What an export holds that an upsert does not take (ids, timestamps, tags as objects, ...).
READ_ONLY = frozenset(
    f.name
    for f in attrs.fields(Contact)
    if f.name not in UPSERT_OP.body_fields and f.name != "additional_properties"
)
_CUSTOM = "custom_attributes."
# Loose on purpose: the API has the last word; this catches the typo'd and the swapped columns.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@attrs.frozen(slots=True)
class Row:
    line: int  # line of the file the row starts on
    fields: dict[str, Any]  # what is sent; for a row with a problem, what the file said
    digest: str
    problem: str | None = None  # why the row is not sent


class _BadRow(Exception):
    pass


def normal_name(raw: str) -> str:
    name = raw.strip().lower().replace(" ", "_")
    name = _ALIASES.get(name, name)
    if name.startswith(_CUSTOM) and len(name) > len(_CUSTOM):
        return _CUSTOM + raw.strip().split(".", 1)[1]
    return name


def _known(name: str) -> bool:
    return name in UPSERT_OP.body_fields or name.startswith(_CUSTOM)


def _convert(raw: Mapping[str, Any], *, from_json: bool) -> dict[str, Any]:
    """The upsert's keywords for one row (keys already normal); raises `_BadRow`."""
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name.startswith(_CUSTOM):
            custom[name.split(".", 1)[1]] = value
        elif name == "tag_ids":
            fields["tag_ids"] = _tag_ids(value)
        elif name == "custom_attributes":
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise _BadRow("custom_attributes must be a JSON object") from None
            if not isinstance(value, dict):
                raise _BadRow("custom_attributes must be a JSON object")
            custom.update(value)
        elif from_json and not isinstance(value, str):
            fields[name] = value
        else:
            fields[name] = str(value).strip()
    if custom:
        fields["custom_attributes"] = custom
    email = fields.get("email_address")
    if not isinstance(email, str) or not email:
        raise _BadRow("no email_address (contacts are matched by email)")
    if not _EMAIL.fullmatch(email):
        raise _BadRow(f"email_address {email!r} is not an email address")
    return fields


def _tag_ids(value: Any) -> list[int]:
    if isinstance(value, str) and value.strip().startswith("["):
        with contextlib.suppress(ValueError):
            value = json.loads(value)  # as `contacts export` writes lists
    parts = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
    try:
        return [int(str(p).strip()) for p in parts if str(p).strip()]
    except ValueError:
        raise _BadRow(f"tag_ids must be numbers separated by ';', not {value!r}") from None


def _digest(workspace_id: int, fields: Mapping[str, Any]) -> str:
    text = json.dumps({"workspace_id": workspace_id, "fields": fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@attrs.define
class Source:
    """One input file. `rows()` reads it (again) from the start; `read_only` collects the export-only
    columns it skipped, for one note."""

    path: Path
    workspace_id: int
    ignore: frozenset[str] = frozenset()
    read_only: set[str] = attrs.field(factory=set)

    def rows(self) -> Iterator[Row]:
        try:
            file = open(self.path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageProblem(f"cannot read {self.path}: {exc.strerror or exc}") from None
        with file:
            try:
                if self.path.suffix.lower() in (".jsonl", ".ndjson"):
                    yield from self._jsonl(file)
                else:
                    yield from self._csv(file)
            except UnicodeDecodeError as exc:
                raise UsageProblem(
                    f"{self.path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
                ) from None

    def _row(self, line: int, raw: dict[str, Any], *, from_json: bool) -> Row:
        try:
            fields = _convert(raw, from_json=from_json)
        except _BadRow as exc:
            return Row(line, raw, "", f"line {line}: {exc}")
        return Row(line, fields, _digest(self.workspace_id, fields))

    def _kept(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """The names to keep, and the unknown ones; skipped read-only names are noted."""
        kept, unknown = [], []
        for name in names:
            if name in self.ignore:
                continue
            if name in READ_ONLY:
                self.read_only.add(name)
            elif _known(name):
                kept.append(name)
            else:
                unknown.append(name)
        return kept, unknown

    def _csv(self, file: IO[str]) -> Iterator[Row]:
        path = self.path
        reader = csv.reader(file, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise UsageProblem(
                f"{path}: the file is empty (expected a header with an email_address column)"
            ) from None
        except csv.Error as exc:
            raise UsageProblem(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
        names = [normal_name(h) for h in header]
        kept, unknown = self._kept(names)
        if unknown:
            raise UsageProblem(
                f"{path}, header: unknown column(s) {', '.join(map(repr, unknown))}; use "
                f"{', '.join(UPSERT_OP.body_fields)} or custom_attributes.<name>, or skip them with "
                f"--ignore-columns {','.join(unknown)}"
            )
        if "email_address" not in kept:
            raise UsageProblem(
                f"{path}: no email_address (or email) column; found: {', '.join(header) or 'none'}"
            )
        duplicated = sorted({n for n in kept if kept.count(n) > 1})
        if duplicated:
            raise UsageProblem(f"{path}, header: column(s) given twice: {', '.join(duplicated)}")
        keep = set(kept)
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (
                csv.Error
            ) as exc:  # the quoting is broken: where rows end is unknown from here on
                raise UsageProblem(f"{path}, line {line}: malformed CSV ({exc})") from None
            if cells and any(c.strip() for c in cells):
                if len(cells) != len(names):
                    raw = {f"column {i + 1}": c for i, c in enumerate(cells)}
                    problem = f"line {line}: {len(cells)} fields, but the header has {len(names)}"
                    yield Row(line, raw, "", problem)
                else:
                    raw = {n: c for n, c in zip(names, cells, strict=True) if n in keep}
                    yield self._row(line, raw, from_json=False)
            line = reader.line_num + 1

    def _jsonl(self, file: IO[str]) -> Iterator[Row]:
        for number, text in enumerate(file, 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError as exc:
                yield Row(
                    number, {"text": text.rstrip("\n")}, "", f"line {number}: not JSON ({exc})"
                )
                continue
            if isinstance(record, dict) and "input" in record and "error" in record:
                record = record["input"]  # a line of a failures file: run its input again
            if not isinstance(record, dict):
                problem = f"line {number}: expected a JSON object of contact fields"
                yield Row(number, {"value": record}, "", problem)
                continue
            normal = {normal_name(str(k)): v for k, v in record.items()}
            kept, unknown = self._kept(normal)
            if unknown:
                problem = (
                    f"line {number}: unknown field(s) {', '.join(map(repr, unknown))} "
                    "(--ignore-columns skips them)"
                )
                yield Row(number, record, "", problem)
                continue
            yield self._row(number, {k: normal[k] for k in kept}, from_json=True)
