"""Errors of the distributed layer (user-facing: the CLI prints them as one line)."""

from __future__ import annotations

from dsgraph.errors import DsgraphError


class ClusterError(DsgraphError, RuntimeError):
    """Ray cluster unreachable, an actor that died for good, or a remote call that timed out."""


class PSCheckpointError(DsgraphError, ValueError):
    """A parameter-server checkpoint that belongs to another model/layout or is corrupt."""
