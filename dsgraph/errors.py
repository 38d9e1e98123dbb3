"""Exceptions that carry a message a user can act on.

Every error dsgraph raises for bad input derives from :class:`DsgraphError`, so the CLI can print
one readable line (and exit with code 2) instead of a traceback.
"""

from __future__ import annotations


class DsgraphError(Exception):
    """Base class of dsgraph's user-facing errors."""


class GraphFormatError(DsgraphError, ValueError):
    """Edge or node arrays that cannot form a graph (bad ids, dtypes or shapes)."""


class DatasetError(DsgraphError, ValueError):
    """A dataset on disk that is missing, corrupt, foreign or inconsistent with its meta.json."""


class ConfigError(DsgraphError, ValueError):
    """A run configuration with a wrong key, type or value."""


class PartitionError(DsgraphError, ValueError):
    """A partitioning request that cannot be satisfied (k < 1, k > N, empty graph …)."""


class SamplerError(DsgraphError, ValueError):
    """Sampler arguments out of range (negative walk length, bad probabilities …)."""


class CheckpointError(DsgraphError, ValueError):
    """A checkpoint that cannot be used: missing, truncated, corrupt, foreign, or unsafe."""


class CapabilityError(DsgraphError, ImportError):
    """An optional capability (CUDA, bf16, fp16 loss scaling, NCCL) is not available here."""


class ClusterError(DsgraphError, RuntimeError):
    """Ray cluster unreachable, an actor that died for good, or a remote call that timed out."""


class WorkerNotConnectedError(ClusterError):
    """A TrainWorker asked to train before it got its parameter servers: Ray restarted it
    between two calls of the driver, which then connects it again."""


class PSCheckpointError(DsgraphError, ValueError):
    """A parameter-server checkpoint that belongs to another model/layout or is corrupt."""


class EventError(DsgraphError, ValueError):
    """An event batch refused as a whole, or an unreadable event file."""


class ServiceError(DsgraphError, ValueError):
    """A request the service cannot answer (unknown user, not a recommender run …)."""
