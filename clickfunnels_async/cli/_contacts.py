"""`clickfunnels contacts export` and `clickfunnels contacts import`."""

from __future__ import annotations

import typer

from ._common import GLOBAL_OPTIONS_HINT
from ._export import export
from ._import import import_

app = typer.Typer(help="Export and import contacts.", no_args_is_help=True)
app.command("export", epilog=GLOBAL_OPTIONS_HINT)(export)
app.command("import", epilog=GLOBAL_OPTIONS_HINT)(import_)
