"""`clickfunnels contacts export` and `clickfunnels contacts import`."""

from __future__ import annotations

import typer

from ._export import export
from ._import import import_

app = typer.Typer(help="Export and import contacts.", no_args_is_help=True)
app.command("export")(export)
app.command("import")(import_)
