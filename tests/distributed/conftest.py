"""One real local Ray instance per test module (start-up costs ~3 s)."""

from __future__ import annotations

import pytest

from dsgraph.distributed.cluster import ClusterSettings, start, stop


@pytest.fixture(scope="module")
def ray_session():
    """A private local Ray (2 CPUs, 256 MB object store, loopback only), shut down after."""
    session = start(ClusterSettings(num_cpus=2, object_store_mb=256, remote_timeout_s=60))
    yield session
    stop(session)
