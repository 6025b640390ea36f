"""What every command shares: the client settings, the consoles, exit codes, logging and error reporting."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import anyio
import attrs
import typer
from rich.console import Console
from rich.markup import escape

from clickfunnels_async import ClickFunnels, ClickFunnelsConfigError, ClickFunnelsError
from clickfunnels_async._json import to_jsonable
from clickfunnels_async._log import logger, stderr_handler

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the API refused something, or some rows failed
EXIT_USAGE = 2  # bad input: option, file, row, operation id
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the API refused something or some rows failed (see the failures file); "
    "2 bad input (option, file, header, operation), nothing sent; 130 interrupted (run again to resume)."
)

GLOBAL_OPTIONS_HINT = (
    "The global options (--api-token, --base-url, --max-retries, -v, -q, ...: clickfunnels --help) "
    "may also come here."
)

# -q: -1, normal: 0, -v: 1 (retries), -vv: 2 (requests too). Set by the root callback for the invocation.
_verbosity: contextvars.ContextVar[int] = contextvars.ContextVar("verbosity", default=0)


class ClientFactory(Protocol):
    """Builds the client a command uses, in place of `ClickFunnels(...)` (tests pass one to `build_app` to
    reach an emulator). It gets the keywords `ClickFunnels` would: `api_token`, `subdomain` and `base_url`
    only when given on the command line."""

    def __call__(self, **kwargs: Any) -> ClickFunnels: ...


class UsageProblem(Exception):
    """Bad input from the user: printed as it is, exit code 2, nothing sent."""


def stderr() -> Console:
    # Made per use: CliRunner swaps sys.stderr between invocations.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str, *, style: str | None = None) -> None:
    """A message on stderr (never stdout: that is for data); -q silences it, not errors."""
    if _verbosity.get() >= 0:
        stderr().print(escape(message), style=style)


def set_verbosity(verbose: int, quiet: bool) -> None:
    _verbosity.set(-1 if quiet else verbose)


def is_quiet() -> bool:
    return _verbosity.get() < 0


class RetryCounter:
    """Counts the retries of the clients `Settings.client()` built, for the progress line and the summary."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@contextmanager
def observed() -> Iterator[None]:
    """While a command runs: with -v show the SDK's retries (and -vv every request) on stderr.

    The SDK logs retries at INFO and requests at DEBUG and prints nothing by itself; the CLI is the
    application here, so it lowers the package logger's level for the command and restores it after.
    """
    verbosity = _verbosity.get()
    if verbosity <= 0:
        yield
        return
    shown = stderr_handler()
    wanted = logging.DEBUG if verbosity > 1 else logging.INFO
    previous = logger.level
    if previous == logging.NOTSET or previous > wanted:
        logger.setLevel(wanted)
    shown.setLevel(wanted)
    logger.addHandler(shown)
    try:
        yield
    finally:
        logger.removeHandler(shown)
        logger.setLevel(previous)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print the error (also under -q) and exit with `code`."""
    stderr().print(escape(f"Error: {message}"), style="bold red" if code == EXIT_USAGE else "red")
    raise typer.Exit(code)


@attrs.define
class Settings:
    """The global options; `client()` builds the client from them and the environment."""

    api_token: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = None
    maton: bool = False
    connection: str | None = None
    subdomain: str | None = None
    max_retries: int = 4
    requests_per_second: float | None = None
    timeout: float | None = None
    factory: ClientFactory | None = None
    retries: RetryCounter = attrs.field(factory=RetryCounter)  # of every client built below

    def client(
        self, *, max_concurrency: int | None = None, workspace_id: int | None = None
    ) -> ClickFunnels:
        """`workspace_id`: the client's default for calls whose path takes one (the client reads
        CLICKFUNNELS_WORKSPACE_ID itself, and may discover the only workspace of a token)."""
        cf = self._build(max_concurrency, workspace_id)
        cf._watch_retries(self.retries)
        return cf

    def _build(self, max_concurrency: int | None, workspace_id: int | None) -> ClickFunnels:
        kwargs: dict[str, Any] = {"max_retries": self.max_retries}
        if max_concurrency is not None:
            kwargs["max_concurrency"] = max_concurrency
        if workspace_id is not None:
            kwargs["workspace_id"] = workspace_id
        if self.requests_per_second is not None:
            kwargs["requests_per_second"] = self.requests_per_second
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.factory is not None:
            given = {
                "api_token": self.api_token,
                "subdomain": self.subdomain,
                "base_url": self.base_url,
            }
            return self.factory(**{k: v for k, v in given.items() if v is not None}, **kwargs)
        if self.connection is not None and not self.maton:
            raise UsageProblem("--connection picks a Maton connection; add --maton")
        if self.maton:
            if self.subdomain is not None:
                raise UsageProblem(
                    "--subdomain does not apply with --maton (the gateway routes by connection)"
                )
            return ClickFunnels.via_maton(
                self.api_token, connection=self.connection, base_url=self.base_url, **kwargs
            )
        return ClickFunnels(
            self.api_token, subdomain=self.subdomain, base_url=self.base_url, **kwargs
        )


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_object(Settings)
    return obj if obj is not None else Settings()


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn what can go wrong into a message and an exit code; never a traceback, never a secret.

    The SDK's errors mask tokens and secret-looking query values, so printing `str(error)` is safe.
    """
    try:
        yield
    except UsageProblem as exc:
        fail(str(exc), EXIT_USAGE)
    except ClickFunnelsConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except ClickFunnelsError as exc:
        fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        say("Interrupted.", style="yellow")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine in its own event loop (asyncio; Ctrl-C cancels it, then raises)."""
    return anyio.run(fn)


def _json_default(value: Any) -> Any:
    try:
        return to_jsonable(value)
    except TypeError:
        return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def parse_filters(
    pairs: list[str], allowed: tuple[str, ...], option: str = "--filter"
) -> dict[str, Any]:
    """`["email_address=a@x.com", "tag_ids=1,2"]` -> `{"email_address": "a@x.com", "tag_ids": ["1", "2"]}`.

    Repeating a key, or commas in a value, gives several values (any of them matches).
    """
    out: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageProblem(f"{option} {pair!r}: write it as key=value")
        if key not in allowed:
            choices = ", ".join(allowed) if allowed else "none (this list takes no filter)"
            raise UsageProblem(
                f"{option} {pair!r}: cannot filter on {key!r}; allowed keys: {choices}"
            )
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:
            raise UsageProblem(f"{option} {pair!r}: no value given")
        out.setdefault(key, []).extend(values)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


# Options that several commands take, defined once.
WorkspaceOption = Annotated[
    int | None,
    typer.Option(
        "--workspace-id",
        envvar="CLICKFUNNELS_WORKSPACE_ID",
        show_envvar=True,
        help="Workspace id (default: the only workspace the token reaches); find it with "
        "`clickfunnels list teams`, then `list workspaces team_id=…`.",
    ),
]
FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter", help="key=value; repeat it, or give value1,value2, for any of several values."
    ),
]
SummaryJsonOption = Annotated[
    bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=0, help="Stop after this many items.")
]


FIND_WORKSPACES = "`clickfunnels list teams`, then `clickfunnels list workspaces team_id=…`"
NEEDS_WORKSPACE = f"--workspace-id is required (or set CLICKFUNNELS_WORKSPACE_ID); find the ids with {FIND_WORKSPACES}"


def workspace(options: Settings, value: int | None) -> int:
    """The workspace of a command that works in one: --workspace-id (or CLICKFUNNELS_WORKSPACE_ID), else
    the SDK's default: the client's workspace_id, else the one workspace the token reaches (with
    --subdomain: the one with that subdomain). Several or none: a UsageProblem that lists them."""
    if value is not None:
        return value
    return run_async(lambda: _default_workspace(options))


async def _default_workspace(options: Settings) -> int:
    async with options.client() as cf:
        default, found = await cf._workspace_choices()
    if default is not None:
        return default
    if len(found) > 1 and options.subdomain is not None:
        found = [w for w in found if w[2] == options.subdomain] or found
    if len(found) == 1 and type(found[0][0]) is int:
        only: int = found[0][0]
        return only
    if not found:
        raise UsageProblem(
            "no --workspace-id given and this token reaches no workspace; pass --workspace-id ID "
            f"(or set CLICKFUNNELS_WORKSPACE_ID) for a workspace it can use; find the ids with {FIND_WORKSPACES}"
        )
    listing = "; ".join(f"id={i} name={n!r} subdomain={s!r}" for i, n, s in found)
    raise UsageProblem(
        f"no --workspace-id given and this token reaches {len(found)} workspaces; pick one with "
        f"--workspace-id ID (or set CLICKFUNNELS_WORKSPACE_ID): {listing}"
    )


def given_on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"
