"""``dsgraph`` command line: parses, validates and delegates to the library.

Errors a user can fix (``DsgraphError``) print as one line on stderr with exit code 2.
"""

from __future__ import annotations

import importlib
import sys

from dsgraph.cli.app import app
from dsgraph.errors import DsgraphError

# Modules that register commands on ``app``; a module not written yet is skipped.
COMMAND_MODULES = ("data", "sample", "partition", "train", "inference")


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"dsgraph.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dsgraph.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dsgraph`` console script."""
    _register_commands()
    try:
        app(args=argv)
    except DsgraphError as exc:
        print(f"dsgraph: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("dsgraph: interrupted", file=sys.stderr)
        sys.exit(130)
