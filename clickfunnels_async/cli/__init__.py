"""The `clickfunnels` command (needs the `cli` extra: `pip install 'clickfunnels-async[cli]'`).

```
clickfunnels contacts export --workspace-id 42 -o contacts.jsonl [--resume]
clickfunnels contacts import people.csv --workspace-id 42 --failures failed.jsonl
clickfunnels call getContacts id=123 --json
clickfunnels list contacts.tags workspace_id=42 --json
clickfunnels emulator serve --port 8765
```

Authentication comes from the environment, as for the client: CLICKFUNNELS_API_TOKEN and
CLICKFUNNELS_SUBDOMAIN, or MATON_API_KEY with --maton. Secrets are never printed.
Exit codes: 0 ok, 1 the API refused or some rows failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from ._common import ClientFactory, Settings, fail
from ._contacts import app as contacts_app
from ._generic import call, list_, operations

__all__ = ["build_app", "main"]


def _emulator_app() -> typer.Typer:
    emulator = typer.Typer(
        help="A local fake of the API, for trying things out.", no_args_is_help=True
    )

    @emulator.command("serve")
    def serve(
        port: Annotated[
            int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")
        ] = 8765,
        seed: Annotated[int, typer.Option("--seed", help="Seed for the data and the faults.")] = 0,
        contacts: Annotated[int, typer.Option("--contacts", min=0, help="Contacts to create.")] = 0,
        tags: Annotated[int, typer.Option("--tags", min=0)] = 0,
        latency: Annotated[
            float, typer.Option("--latency", min=0.0, help="Seconds added per request.")
        ] = 0.0,
        error_rate: Annotated[float, typer.Option("--error-rate", min=0.0, max=1.0)] = 0.0,
        drop_rate: Annotated[float, typer.Option("--drop-rate", min=0.0, max=1.0)] = 0.0,
        rate_limit: Annotated[
            int | None, typer.Option("--rate-limit", min=1, help="Requests/s per token.")
        ] = None,
    ) -> None:
        """Serve the emulator (clickfunnels_async.testing) on 127.0.0.1 until Ctrl-C."""
        try:
            import uvicorn  # noqa: F401

            from clickfunnels_async.testing.__main__ import main as serve_main
        except ImportError as exc:
            fail(
                f"the emulator needs the testing extra (pip install 'clickfunnels-async[testing]'): {exc}"
            )
        argv = [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--seed",
            str(seed),
            "--contacts",
            str(contacts),
            "--tags",
            str(tags),
            "--latency",
            str(latency),
            "--error-rate",
            str(error_rate),
            "--drop-rate",
            str(drop_rate),
        ]
        if rate_limit is not None:
            argv += ["--rate-limit", str(rate_limit)]
        raise typer.Exit(serve_main(argv))

    return emulator


def build_app(*, client_factory: ClientFactory | None = None) -> typer.Typer:
    """The typer application. `client_factory(**kwargs) -> ClickFunnels` replaces how commands build their
    client (tests point it at an emulator); it receives the retry, concurrency and pacing settings."""
    app = typer.Typer(
        name="clickfunnels",
        help="ClickFunnels 2.0 API from the command line.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def options(
        ctx: typer.Context,
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
    ) -> None:
        ctx.obj = Settings(
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
    app.command("call")(call)
    app.command("list")(list_)
    app.command("operations")(operations)
    app.add_typer(_emulator_app(), name="emulator")
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `clickfunnels` console script."""
    build_app()(args=list(argv) if argv is not None else None, prog_name="clickfunnels")
