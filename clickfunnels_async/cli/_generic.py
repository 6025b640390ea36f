"""`clickfunnels call <operationId> key=value ...` and `clickfunnels list <resource>`, for every operation.

Both read the operation table (`OPERATIONS`, generated from the spec) to know an operation's path, query,
filter and body parameters, and call the client's own namespace method for it (`cf.contacts.tags.list`).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from clickfunnels_async import ClickFunnels
from clickfunnels_async._generated.operation_table import OPERATIONS
from clickfunnels_async._operation_row import Operation

from ._common import (
    NEEDS_WORKSPACE,
    FilterOption,
    LimitOption,
    UsageProblem,
    WorkspaceOption,
    dumps,
    given_on_command_line,
    observed,
    parse_filters,
    reported_errors,
    run_async,
    say,
    settings,
)


def _python_name(param: str) -> str:
    """The keyword the generated method uses for a query parameter (`count_by[property]` -> `count_by_property`)."""
    return re.sub(r"\W+", "_", param).strip("_")


def find_operation(name: str) -> Operation:
    """By operationId (`listContactsTags`) or by dotted name (`contacts.tags.list`)."""
    op = OPERATIONS.get(name)
    if op is not None:
        return op
    by_qualname = {o.qualname: o for o in OPERATIONS.values()}
    op = by_qualname.get(name)
    if op is not None:
        return op
    close = difflib.get_close_matches(name, [*OPERATIONS, *by_qualname], n=4, cutoff=0.6)
    hint = (
        f"; did you mean {', '.join(close)}?" if close else "; `clickfunnels operations` lists them"
    )
    raise UsageProblem(f"unknown operation {name!r}{hint}")


def find_list_operation(resource: str) -> Operation:
    for op in OPERATIONS.values():
        if op.namespace == resource and op.verb == "list" and op.paginated:
            return op
    namespaces = sorted(
        {o.namespace for o in OPERATIONS.values() if o.verb == "list" and o.paginated}
    )
    close = difflib.get_close_matches(resource, namespaces, n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageProblem(
        f"no list operation for {resource!r}{hint} (resources look like contacts.tags)"
    )


def _method(cf: ClickFunnels, op: Operation) -> Any:
    target: Any = cf
    for part in op.namespace.split("."):
        target = getattr(target, part)
    return getattr(target, op.verb)


def _value(arg: str, raw: str, is_json: bool) -> Any:
    if not is_json:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise UsageProblem(f"argument {arg!r}: the value after := must be JSON") from None


def _command_kwargs(
    ctx: typer.Context,
    op: Operation,
    args: list[str],
    filters: list[str] | None,
    workspace_id: int | None,
    limit: int | None,
) -> dict[str, Any]:
    """`build_kwargs` checked against the options `call` and `list` share: --workspace-id (passed to the
    client as its default, which fills it in where the operation takes one) and --limit."""
    kwargs = build_kwargs(op, args, filters)
    if limit is not None and not op.paginated:
        raise UsageProblem(f"--limit applies to list operations; {op.id} returns one item")
    explicit = given_on_command_line(ctx, "workspace_id")
    if workspace_id is not None and explicit:
        if "workspace_id" not in op.path_params:
            raise UsageProblem(
                f"{op.id} ({op.qualname}) takes no workspace id; drop --workspace-id"
            )
        given = kwargs.get("workspace_id")
        if given is not None and given != workspace_id:
            raise UsageProblem(
                f"workspace_id={given} and --workspace-id {workspace_id} disagree; give one"
            )
    # The workspace id is the client's to fill in (its default, or the one workspace it discovers).
    missing = [p for p in op.path_params if p not in kwargs and p != "workspace_id"]
    if missing:
        raise UsageProblem(
            f"{op.id} ({op.qualname}) needs {', '.join(f'{m}=...' for m in missing)}"
        )
    return kwargs


def _sdk_refusal(op: Operation, exc: TypeError | ValueError) -> UsageProblem:
    """The SDK's own checks, made before sending, in the CLI's words where they name Python code."""
    if isinstance(exc, TypeError) and "needs workspace_id" in str(exc):
        return UsageProblem(f"{op.id} ({op.qualname}): {NEEDS_WORKSPACE}")
    return UsageProblem(str(exc))


def build_kwargs(
    op: Operation, args: list[str], filters: list[str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for the operation's method from `key=value` (text) and `key:=json` arguments.

    Keys: path parameters, query parameters, body fields, `filter.<key>` (or `filter[<key>]`) and `expand`.
    Every key is checked against the operation's row before anything is sent; missing path parameters
    are left to the caller.
    """
    query = {_python_name(p): p for p in op.query_params if p != "after" or not op.paginated}
    if op.paginated:
        query["after"] = "after"
    kwargs: dict[str, Any] = {}
    filter_pairs = list(filters or [])
    expand: list[str] = []
    open_body: dict[str, Any] = {}
    for arg in args:
        match = re.fullmatch(r"([A-Za-z_][\w.\[\]]*)(:?=)(.*)", arg, flags=re.S)
        if match is None:
            raise UsageProblem(f"argument {arg!r}: write key=value (text) or key:=json")
        key, sep, raw = match.groups()
        value = _value(arg, raw, sep == ":=")
        filter_key = re.fullmatch(r"filter(?:\.(\w+)|\[(\w+)\])", key)
        if filter_key:
            name = filter_key.group(1) or filter_key.group(2)
            filter_pairs.append(
                f"{name}={','.join(map(str, value)) if isinstance(value, list) else value}"
            )
        elif key == "expand":
            expand.extend(value if isinstance(value, list) else str(value).split(","))
        elif key in op.path_params:
            kwargs[key] = int(value) if isinstance(value, str) and value.isdigit() else value
        elif key in query or _python_name(key) in query:
            kwargs[_python_name(key)] = value
        elif key in op.body_fields:
            kwargs[key] = value
        elif op.has_body and not op.body_fields:
            open_body[key] = value  # the spec does not list this body's fields: pass them through
        else:
            accepted = [*op.path_params, *query, *op.body_fields]
            if op.filter_keys:
                accepted.append("filter.<key>")
            if op.expand:
                accepted.append("expand")
            raise UsageProblem(
                f"argument {arg!r}: {op.id} ({op.qualname}) takes no {key!r}; "
                f"it takes: {', '.join(accepted) or 'nothing'}"
            )
    if filter_pairs:
        kwargs["filter"] = parse_filters(filter_pairs, op.filter_keys, option="filter")
    if expand:
        bad = [e for e in expand if e not in op.expand]
        if bad:
            raise UsageProblem(
                f"{op.id} cannot expand {', '.join(bad)}; allowed: {', '.join(op.expand) or 'nothing'}"
            )
        kwargs["expand"] = expand
    if open_body:
        kwargs["values"] = open_body
    return kwargs


def _print_items(items: list[Any], as_json: bool) -> None:
    if as_json:
        for item in items:
            typer.echo(dumps(item))
        return
    console = Console(highlight=False)
    if not items:
        console.print("(no items)")
        return
    rows = [item if isinstance(item, dict) else {"value": item} for item in items]
    # The id first, then the scalar fields the first item fills in: a readable overview, not every field.
    scalar = [k for k, v in rows[0].items() if v is not None and not isinstance(v, dict | list)]
    columns = sorted(scalar, key=lambda k: k != "id")[:6]
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def call(
    ctx: typer.Context,
    operation: Annotated[
        str, typer.Argument(help="operationId (getContacts) or dotted name (contacts.get).")
    ],
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="key=value (text) or key:=json: path/query params, body fields, filter.<key>, expand."
        ),
    ] = None,
    workspace_id: WorkspaceOption = None,
    filter: FilterOption = None,
    limit: LimitOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Compact JSON on stdout, for scripts.")
    ] = False,
) -> None:
    """Call any operation of the API. A list operation returns one page (its next cursor goes to stderr),
    or with --limit up to that many items."""
    with reported_errors():
        op = find_operation(operation)
        kwargs = _command_kwargs(ctx, op, args or [], filter, workspace_id, limit)
        cf = settings(ctx).client(workspace_id=workspace_id)

        async def go() -> tuple[Any, str | None]:
            async with cf:
                method = _method(cf, op)
                if op.paginated:
                    items: list[Any] = []
                    async for page in method(**kwargs).pages():
                        got = page.response.json()
                        if limit is None:
                            return got, page.next_cursor
                        taken = got[: limit - len(items)]
                        items += taken
                        if len(items) >= limit:
                            # A cursor resumes after a whole page only: none when the page was cut.
                            return items, page.next_cursor if len(taken) == len(got) else None
                    return items, None
                with cf.raw_responses() as raw:
                    result = await method(**kwargs)
                if result is None or not raw or not raw[-1].http_response.content:
                    return None, None
                return raw[-1].http_response.json(), None

        try:
            with observed():
                result, cursor = run_async(go)
        except (TypeError, ValueError) as exc:
            raise _sdk_refusal(op, exc) from None
        if result is None:
            say(f"{op.qualname}: done")
        elif as_json:
            typer.echo(dumps(result))
        else:
            Console(highlight=False).print_json(dumps(result))
        if cursor is not None:
            say(f"next page: after={cursor}")


def list_(
    ctx: typer.Context,
    resource: Annotated[str, typer.Argument(help="Namespace, e.g. contacts or contacts.tags.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(help="key=value: path and query parameters (team_id=7, sort_order=desc)."),
    ] = None,
    workspace_id: WorkspaceOption = None,
    filter: FilterOption = None,
    limit: LimitOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line on stdout.")
    ] = False,
) -> None:
    """List every item of a resource, following the pages."""
    with reported_errors():
        op = find_list_operation(resource)
        kwargs = _command_kwargs(ctx, op, args or [], filter, workspace_id, limit)
        cf = settings(ctx).client(workspace_id=workspace_id)
        collected: list[Any] = []

        async def go() -> None:
            async with cf:
                remaining = limit
                async for page in _method(cf, op)(**kwargs).pages():
                    items = page.response.json()
                    if remaining is not None:
                        items = items[:remaining]
                        remaining -= len(items)
                    if as_json:
                        _print_items(items, True)  # streamed, page by page
                    else:
                        collected.extend(items)
                    if remaining == 0:
                        break

        try:
            with observed():
                run_async(go)
        except (TypeError, ValueError) as exc:
            raise _sdk_refusal(op, exc) from None
        if not as_json:
            _print_items(collected, False)


def operations(
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List every operation: id, dotted name, method and path."""
    ops = sorted(OPERATIONS.values(), key=lambda o: o.qualname)
    if as_json:
        for op in ops:
            typer.echo(
                json.dumps(
                    {
                        "id": op.id,
                        "name": op.qualname,
                        "method": op.method,
                        "path": op.path,
                        "paginated": op.paginated,
                    }
                )
            )
        return
    table = Table("operationId", "name", "method", "path")
    for op in ops:
        table.add_row(op.id, op.qualname, op.method, op.path)
    Console(highlight=False).print(table)
