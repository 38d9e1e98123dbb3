"""Distributed training on Ray: sharded parameter servers, partition workers, the driver.

Importing this package is cheap: Ray is imported only by the modules that define actors
(``cluster``, ``parameter_server``, ``worker``, ``driver``), never here.
"""

from dsgraph.distributed.errors import ClusterError, PSCheckpointError

__all__ = ["ClusterError", "PSCheckpointError"]
