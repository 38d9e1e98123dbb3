"""Three Ray nodes on this machine (ray.cluster_utils.Cluster): placement by custom resources."""

from __future__ import annotations

import pytest

from dsgraph.config import config_from_dict
from dsgraph.distributed.driver import train_distributed

pytestmark = [pytest.mark.ray, pytest.mark.multinode, pytest.mark.slow]


@pytest.fixture(scope="module")
def three_nodes():
    import ray
    from ray.cluster_utils import Cluster

    from dsgraph.distributed.cluster import ClusterSettings, start

    start(ClusterSettings(address=None, num_cpus=1))  # sets the loopback-only environment
    ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {"head": 1},
            "object_store_memory": 128 * 1024 * 1024,
        },
    )
    for name in ("node1", "node2"):
        cluster.add_node(num_cpus=1, resources={name: 1}, object_store_memory=128 * 1024 * 1024)
    ray.init(address=cluster.address, logging_level="error", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_workers_placed_by_partition_and_ps_on_the_head(three_nodes, tmp_path) -> None:
    import ray

    raw = {
        "version": 1,
        "data": {
            "path": str(tmp_path / "user_item"),
            "generate": {"kind": "user_item", "num_users": 400, "num_items": 200, "seed": 0},
        },
        "model": {"name": "lightgcn", "embedding_dim": 16, "num_layers": 2},
        "task": {"kind": "recommendation"},
        "train": {"epochs": 3, "batch_size": 1024, "lr": 0.01, "threads": 1},
        "cluster": {"num_workers": 2, "num_ps": 1},
        "output": {"dir": str(tmp_path), "plots": False, "embeddings": False},
    }
    result = train_distributed(
        config_from_dict(raw),
        tmp_path / "run",
        progress=False,
        worker_resources=[{"node1": 0.5}, {"node2": 0.5}],
        ps_resources={"head": 0.5},
    )
    node_of = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    workers = {p["part"]: p["node_id"] for p in result.placement if "worker" in p}
    ps = [p["node_id"] for p in result.placement if "ps_shard" in p]
    assert "node1" in node_of[workers[0]] and "node2" in node_of[workers[1]]
    assert "head" in node_of[ps[0]]
    assert result.steps > 0 and result.final[result.headline] > 0
    # each worker, on its own node, loaded its own part of the shared run folder
    owned = {p["part"]: p["num_owned"] for p in result.placement if "worker" in p}
    assert sum(owned.values()) == 600 and all(n > 0 for n in owned.values())
    assert all(p["parts_dir"] == str(tmp_path / "run" / "parts") for p in result.placement[:2])
