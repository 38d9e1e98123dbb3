"""Errors of the distributed layer, defined with the others in :mod:`dsgraph.errors`."""

from dsgraph.errors import ClusterError, PSCheckpointError, WorkerNotConnectedError

__all__ = ["ClusterError", "PSCheckpointError", "WorkerNotConnectedError"]
