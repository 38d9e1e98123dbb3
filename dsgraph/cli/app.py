"""The typer application that every ``dsgraph`` sub-command registers on.

Each area of the CLI lives in its own module (``data``, ``sample``, ``partition``, ``train``,
``serve`` …) and only parses arguments and calls library functions.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="dsgraph",
    help="dsgraph: graph neural networks on Parquet graphs, METIS partitions and Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """dsgraph: graph neural networks on Parquet graphs, METIS partitions and Ray."""


@app.command()
def version() -> None:
    """Print the installed dsgraph version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("dsgraph"))
