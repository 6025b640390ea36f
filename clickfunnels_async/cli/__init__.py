"""The `clickfunnels` command (needs the `cli` extra: `pip install 'clickfunnels-async[cli]'`).

```
clickfunnels contacts export --workspace-id 42 -o contacts.csv [--resume | --restart]
clickfunnels contacts import contacts.csv --workspace-id 42 --failures failed.jsonl
clickfunnels call getContacts id=123 --json
clickfunnels list contacts.tags --workspace-id 42 --json
clickfunnels emulator serve --port 8765
```

Authentication comes from the options or the environment, as for the client: CLICKFUNNELS_API_TOKEN and
CLICKFUNNELS_SUBDOMAIN, or MATON_API_KEY with --maton. Secrets are never printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from clickfunnels_async._version import __version__

from ._common import (
    EXIT_CODES_HELP,
    GLOBAL_OPTIONS_HINT,
    ClientFactory,
    Settings,
    fail,
    set_verbosity,
)
from ._contacts import app as contacts_app
from ._generic import call, list_, operations

__all__ = ["build_app", "main"]

# Commands that take their own arguments verbatim: global options after them are theirs, not hoisted.
_VERBATIM = frozenset({"emulator"})


class _Root(TyperGroup):
    """The root group; global options may also come after the command (`contacts export --api-token …`).

    They are moved in front of the command before parsing, after any given there, so the same option
    definitions and precedence apply (a flag beats the environment; given twice, the later one wins).
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._hoisted(list(args)))

    def _hoisted(self, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        short_flags = ""
        for param in self.params:
            flag = bool(getattr(param, "is_flag", False) or getattr(param, "count", False))
            for opt in (*param.opts, *getattr(param, "secondary_opts", ())):
                takes_value[opt] = not flag
                if flag and re.fullmatch(r"-\w", opt):
                    short_flags += opt[1]

        def root_option(token: str) -> tuple[bool, bool]:
            """(is a root option, its value is the next token)."""
            name, eq, _ = token.partition("=")
            if name in takes_value and token.startswith("--"):
                return True, takes_value[name] and not eq
            if short_flags and re.fullmatch(rf"-[{short_flags}]+", token):
                return True, False
            return name in takes_value, takes_value.get(name, False) and not eq

        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] != "--":
            known, needs_value = root_option(args[i])
            if not known:
                return args  # let the parser report it
            i += 2 if needs_value else 1
        if i >= len(args) or args[i] in _VERBATIM:
            return args
        hoisted: list[str] = []
        rest: list[str] = []
        j = i + 1
        while j < len(args):
            token = args[j]
            if token == "--":
                rest += args[j:]
                break
            known, needs_value = root_option(token)
            if known:
                take = 2 if needs_value and j + 1 < len(args) else 1
                hoisted += args[j : j + take]
                j += take
            else:
                rest.append(token)
                j += 1
        return [*args[:i], *hoisted, args[i], *rest]


def _emulator_app() -> typer.Typer:
    emulator = typer.Typer(
        help="A local fake of the API, for trying things out.", no_args_is_help=True
    )

    @emulator.command(
        "serve",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def serve(ctx: typer.Context) -> None:
        """Serve the emulator on 127.0.0.1 until Ctrl-C; `serve --help` lists its options (the same as
        `python -m clickfunnels_async.testing`: port, seed, data, faults, latency, rate limit, tokens)."""
        try:
            import uvicorn  # noqa: F401

            from clickfunnels_async.testing.__main__ import main as serve_main
        except ImportError as exc:
            fail(
                f"the emulator needs the testing extra (pip install 'clickfunnels-async[testing]'): {exc}"
            )
        # One definition of the options: the emulator's own parser reads them.
        raise typer.Exit(serve_main(ctx.args, prog="clickfunnels emulator serve"))

    return emulator


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"clickfunnels-async {__version__}")
        raise typer.Exit()


def build_app(*, client_factory: ClientFactory | None = None) -> typer.Typer:
    """The typer application. `client_factory(**kwargs) -> ClickFunnels` replaces how commands build their
    client (tests point it at an emulator); it receives the keywords `ClickFunnels(...)` would."""
    app = typer.Typer(
        name="clickfunnels",
        cls=_Root,
        help="ClickFunnels 2.0 API from the command line.\n\nGlobal options may come before or after "
        "the command (clickfunnels contacts export --api-token …); an option beats the environment.",
        epilog=EXIT_CODES_HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def options(
        ctx: typer.Context,
        api_token: Annotated[
            str | None,
            typer.Option(
                "--api-token",
                help="API token (default CLICKFUNNELS_API_TOKEN; with --maton the Maton key, "
                "default MATON_API_KEY). Prefer the environment: options show in process lists.",
                show_default=False,
            ),
        ] = None,
        base_url: Annotated[
            str | None,
            typer.Option("--base-url", help="Send every request to this root (proxy, emulator)."),
        ] = None,
        maton: Annotated[
            bool, typer.Option("--maton", help="Go through the Maton gateway (MATON_API_KEY).")
        ] = False,
        connection: Annotated[
            str | None, typer.Option("--connection", help="Maton connection id (with --maton).")
        ] = None,
        subdomain: Annotated[
            str | None,
            typer.Option(
                "--subdomain", help="Workspace subdomain (default CLICKFUNNELS_SUBDOMAIN)."
            ),
        ] = None,
        max_retries: Annotated[
            int, typer.Option("--max-retries", min=0, help="Retries per request.")
        ] = 4,
        rps: Annotated[
            float | None,
            typer.Option("--rps", min=0.01, help="Pace requests to this many per second."),
        ] = None,
        timeout: Annotated[
            float | None, typer.Option("--timeout", min=0.1, help="Seconds per request.")
        ] = None,
        verbose: Annotated[
            int,
            typer.Option(
                "--verbose",
                "-v",
                count=True,
                help="-v: show retries on stderr; -vv: every request too.",
            ),
        ] = 0,
        quiet: Annotated[
            bool,
            typer.Option(
                "--quiet", "-q", help="No progress and no messages on stderr, only errors."
            ),
        ] = False,
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=_show_version,
                is_eager=True,
                help="Print the version and exit.",
            ),
        ] = False,
    ) -> None:
        set_verbosity(verbose, quiet)
        ctx.obj = Settings(
            api_token=api_token,
            base_url=base_url,
            maton=maton,
            connection=connection,
            subdomain=subdomain,
            max_retries=max_retries,
            requests_per_second=rps,
            timeout=timeout,
            factory=client_factory,
        )

    app.add_typer(contacts_app, name="contacts")
    app.command("call", epilog=GLOBAL_OPTIONS_HINT)(call)
    app.command("list", epilog=GLOBAL_OPTIONS_HINT)(list_)
    app.command("operations")(operations)
    app.add_typer(_emulator_app(), name="emulator")
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `clickfunnels` console script."""
    build_app()(args=list(argv) if argv is not None else None, prog_name="clickfunnels")
