"""Distributed training on Ray: sharded parameter servers, partition workers, the driver.

Importing this package is cheap: Ray, torch and the training stack load only when
:func:`train_distributed` (or a module that defines actors) is used.
"""

from __future__ import annotations

from typing import Any

from dsgraph.distributed.errors import ClusterError, PSCheckpointError

__all__ = ["ClusterError", "PSCheckpointError", "train_distributed"]


def __getattr__(name: str) -> Any:
    if name == "train_distributed":
        from dsgraph.distributed.driver import train_distributed

        return train_distributed
    raise AttributeError(f"module 'dsgraph.distributed' has no attribute {name!r}")
