"""Cluster lifecycle on a real local Ray: loopback only, timeouts, unreachable addresses."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import psutil
import pytest

from dsgraph.distributed.cluster import ClusterSettings, actor_error_reason, get, start
from dsgraph.distributed.errors import ClusterError

pytestmark = pytest.mark.ray


@contextlib.contextmanager
def _listening_port() -> Iterator[int]:
    """A loopback port where something accepts connections (but no Ray answers)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_local_instance_listens_on_loopback_only(ray_session) -> None:
    import ray

    assert ray_session.owned
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    ray_pids = {
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if any(k in " ".join(p.info["cmdline"] or []) for k in ("gcs_server", "raylet", "ray::"))
    }
    exposed = [
        (c.pid, c.laddr)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
        and c.pid in ray_pids
        and c.laddr.ip not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")
    ]
    assert ray_pids and not exposed, f"Ray listens beyond loopback: {exposed}"


def test_no_dashboard_unless_asked(ray_session) -> None:
    import ray

    assert ray.get_runtime_context().get_node_id() is not None
    assert ray._private.worker.global_worker.node.address_info.get("webui_url") in (None, "")


def test_remote_call_timeout_names_the_call(ray_session) -> None:
    import ray

    @ray.remote
    def sleepy() -> int:
        time.sleep(5)
        return 1

    t0 = time.perf_counter()
    with pytest.raises(ClusterError, match=r"slow verb: no answer within 1s"):
        get(sleepy.remote(), 1.0, "slow verb")
    assert time.perf_counter() - t0 < 3


def test_dead_actor_becomes_cluster_error_with_reason(ray_session) -> None:
    import ray

    @ray.remote
    class Broken:
        def __init__(self) -> None:
            raise ValueError("constructor refuses: bad shard layout")

        def ping(self) -> int:
            return 1

    with pytest.raises(ClusterError, match="actor died") as err:
        get(Broken.remote().ping.remote(), 30, "ping")
    assert "bad shard layout" in actor_error_reason(err.value.__cause__)


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_unreachable_address_fails_fast_and_clearly(address: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ClusterError, match="unreachable"):
        start(ClusterSettings(address=address, connect_timeout_s=2))
    assert time.perf_counter() - t0 < 5


def test_malformed_address_is_rejected() -> None:
    with pytest.raises(ClusterError, match="allowed"):
        start(ClusterSettings(address="not-an-address"))


@pytest.mark.slow
def test_ctrl_c_shuts_down_the_local_instance(tmp_path) -> None:
    """SIGINT inside ``with cluster(...)`` leaves through the context manager: Ray is stopped."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "ctrl_c.py"
    script.write_text(
        "import time\n"
        "import ray\n"
        "from dsgraph.distributed.cluster import ClusterSettings, cluster\n"
        "try:\n"
        "    with cluster(ClusterSettings(num_cpus=1, object_store_mb=128)):\n"
        "        print('up', flush=True)\n"
        "        time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', ray.is_initialized(), flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert proc.stdout is not None
    deadline = time.time() + 120
    while "up" not in proc.stdout.readline():
        assert time.time() < deadline, "Ray did not start"
    children = psutil.Process(proc.pid).children(recursive=True)
    assert any("raylet" in " ".join(c.cmdline()) for c in children if c.is_running())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert "interrupted False" in out
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not [p for p in alive if "raylet" in " ".join(p.cmdline())]


def test_ray_client_address_without_grpc_names_the_missing_extra() -> None:
    import importlib.util

    if importlib.util.find_spec("grpc") is not None:
        pytest.skip("grpc is installed: Ray Client would be tried for real")
    with _listening_port() as port:  # something listens, but Ray Client cannot be used
        with pytest.raises(ClusterError, match=r"ray\[client\]"):
            start(ClusterSettings(address=f"ray://127.0.0.1:{port}", connect_timeout_s=2))


@pytest.mark.slow
def test_local_instance_is_private_even_when_another_is_advertised(tmp_path) -> None:
    """address None must start a new instance, not join the one RAY_ADDRESS points at."""
    import os
    import subprocess
    import sys

    script = (
        "import ray\n"
        "from dsgraph.distributed.cluster import ClusterSettings, cluster\n"
        "with cluster(ClusterSettings(num_cpus=1, object_store_mb=128)) as s:\n"
        "    print('owned', s.owned, ray.cluster_resources().get('CPU'), flush=True)\n"
    )
    with _listening_port() as port:  # something answers at the advertised address
        env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
        )
    assert "owned True 1.0" in out.stdout, out.stderr[-2000:]
