"""Ray cluster lifecycle: start a private local instance or join an existing cluster.

A local instance listens on loopback only (no port on any other interface), starts no dashboard
unless asked, sizes its object store explicitly and keeps worker logs out of the terminal. Every
remote call goes through :func:`get` with a timeout, so a hung or dead actor becomes a
:class:`ClusterError` naming the call instead of a frozen run. Ctrl-C (KeyboardInterrupt) leaves
through the context manager, which shuts down the instance it started.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dsgraph.distributed.errors import ClusterError

# Ray ≥ 2.5x picks the machine's outward IP as the node address and binds its gRPC servers to it
# (plus 0.0.0.0 for some). Declaring "no multi-machine cluster" makes it use 127.0.0.1 for every
# server of a local instance; it must be set before ray reads its constants and for the raylet
# and workers it spawns (they inherit the environment).
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@dataclass(frozen=True)
class ClusterSettings:
    """How to reach Ray. ``address`` None starts a private local instance on loopback.

    ``address`` may be "auto" (a cluster already running on this machine), "host:port" (the
    GCS of a cluster) or "ray://host:port" (Ray Client). ``worker_niceness`` (local instance
    only) overrides the Unix niceness Ray gives its worker processes (15 by default, so actors
    yield the CPU to every normal process); 0 runs actors at the driver's priority.
    """

    address: str | None = None
    num_cpus: int | None = None
    object_store_mb: int = 512
    dashboard: bool = False
    remote_timeout_s: float = 120.0
    connect_timeout_s: float = 15.0
    namespace: str = "dsgraph"
    resources: dict[str, float] | None = None
    worker_niceness: int | None = None


@dataclass
class ClusterSession:
    """A live connection; ``owned`` is True when this call ran ``ray.init`` (so ``stop`` undoes it:
    disconnects, and stops a local instance it started)."""

    settings: ClusterSettings
    owned: bool
    address: str

    @property
    def timeout(self) -> float:
        return self.settings.remote_timeout_s


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast on a host:port nobody listens on (ray.init would retry for minutes)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(
            f"cluster.address {address!r} is not valid (allowed: null, 'auto', 'host:port', "
            "'ray://host:port')"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ClusterError(
            f"cluster.address {address!r} is unreachable: no Ray listens at {host}:{port} "
            f"({e.strerror or e}); start the cluster (`ray up` / `ray start --head`) or fix the "
            "address"
        ) from e


def start(settings: ClusterSettings) -> ClusterSession:
    """Connect to Ray per ``settings`` (reusing an instance this process already joined)."""
    if settings.address is None:
        os.environ[_LOOPBACK_ENV] = "0"
    elif settings.address != "auto":
        _check_reachable(settings.address, settings.connect_timeout_s)
        if settings.address.startswith("ray://"):
            try:
                import grpc  # noqa: F401  (Ray Client's transport)
            except ImportError:
                raise ClusterError(
                    f"cluster.address {settings.address!r} uses Ray Client, which needs "
                    "`pip install 'ray[client]'`; or submit the run as a job with "
                    "cluster.address: auto (docs/deploy.md)"
                ) from None
    import ray
    from ray._private import ray_constants

    if ray.is_initialized():
        return ClusterSession(settings, owned=False, address=ray.get_runtime_context().gcs_address)
    quiet = os.environ.get("DSGRAPH_RAY_LOGS", "") == ""
    common: dict[str, Any] = {
        "namespace": settings.namespace,
        "log_to_driver": not quiet,
        "logging_level": "error" if quiet else "info",
    }
    if settings.address is None:
        ray_constants.ENABLE_RAY_CLUSTER = False  # see _LOOPBACK_ENV
        num_cpus = settings.num_cpus or os.cpu_count() or 1
        system_config = {}
        if settings.worker_niceness is not None:
            system_config["worker_niceness"] = int(settings.worker_niceness)
        ray.init(
            # "local", not None: None joins whatever instance RAY_ADDRESS or
            # /tmp/ray/ray_current_cluster names (e.g. another user's), and then fails on num_cpus
            address="local",
            num_cpus=num_cpus,
            object_store_memory=settings.object_store_mb * 1024 * 1024,
            include_dashboard=settings.dashboard,
            resources=settings.resources,
            _node_ip_address="127.0.0.1",
            _system_config=system_config or None,
            **common,
        )
        return ClusterSession(settings, owned=True, address=ray.get_runtime_context().gcs_address)
    t0 = time.perf_counter()
    try:
        ray.init(address=settings.address, **common)
    except (ConnectionError, RuntimeError, TimeoutError) as e:
        raise ClusterError(
            f"cannot join Ray at cluster.address={settings.address!r} after "
            f"{time.perf_counter() - t0:.1f}s: {str(e).splitlines()[0]}"
        ) from e
    return ClusterSession(settings, owned=True, address=settings.address)


def stop(session: ClusterSession) -> None:
    """Undo :func:`start`: disconnect (and stop a local instance) if that call connected."""
    import ray

    if ray.is_initialized() and session.owned:
        ray.shutdown()


@contextlib.contextmanager
def cluster(settings: ClusterSettings) -> Iterator[ClusterSession]:
    """Ray up for the block of ``with cluster(settings):``, down after it, even on Ctrl-C."""
    session = start(settings)
    try:
        yield session
    finally:
        stop(session)


def get(refs: Any, timeout: float, what: str) -> Any:
    """``ray.get`` with a timeout; timeouts and dead actors become :class:`ClusterError`."""
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    try:
        return ray.get(refs, timeout=timeout)
    except GetTimeoutError as e:
        raise ClusterError(f"{what}: no answer within {timeout:.0f}s") from e
    except RayActorError as e:
        raise ClusterError(f"{what}: actor died ({actor_error_reason(e)})") from e


def actor_error_reason(error: BaseException) -> str:
    """The root cause of an actor failure in one line (e.g. a constructor's own error)."""
    text = str(error)
    for line in text.splitlines():
        line = line.strip()
        for marker in ("PSCheckpointError:", "ClusterError:", "ConfigError:", "DatasetError:"):
            if marker in line:
                return line[line.index(marker) :]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else type(error).__name__


def configure_threads(threads: int, torch: bool = True) -> None:
    """Pin intra-op threads of torch, numba and BLAS in this process (one actor per core)."""
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if torch:
        import torch as _torch

        _torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
            _torch.set_num_interop_threads(1)


def wait_all(refs: Sequence[Any], timeout: float, what: str) -> list[Any]:
    """Results of several calls, in order, all under one deadline."""
    return list(get(list(refs), timeout, what))
