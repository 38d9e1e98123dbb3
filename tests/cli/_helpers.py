"""Shared by the CLI tests: run ``dsgraph`` in-process, capture exit code and output."""

from __future__ import annotations

import pytest

from dsgraph.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``dsgraph <argv>``; returns (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
