"""TrainWorker over its own part: local tasks, exactness vs the full graph, global row ids.

The parts are real (pymetis + Parquet via ``write_training_parts``); the Ray tests use a real
local Ray with real parameter-server actors.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.config import config_from_dict
from dsgraph.distributed.driver import assign_parts, halo_hops, write_training_parts
from dsgraph.distributed.worker import (
    build_local_task,
    deal,
    flat_dense,
    global_layout,
    load_dense,
    model_layout,
    restrict_task,
)
from dsgraph.errors import DatasetError, WorkerNotConnectedError
from partitioning.book import read_meta
from partitioning.io import load_partition


def make_config(kind: str = "recommendation", **sections: dict) -> object:
    """A small valid run config; ``sections`` update single sections."""
    raw = {
        "version": 1,
        "data": {"path": "unused-by-workers"},
        "partition": {"hub_threshold": 100_000},
        "sampler": {"kind": "full"},
        "model": {"name": "lightgcn", "embedding_dim": 8, "num_layers": 1, "hidden_dim": 8},
        "task": {"kind": kind, "k": 10},
        "train": {"epochs": 1, "batch_size": 64, "lr": 0.01, "threads": 1, "seed": 0},
        "cluster": {"num_workers": 2, "num_ps": 1},
        "output": {"plots": False, "embeddings": False},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return config_from_dict(raw)


def block_interactions(
    num_users: int, num_items: int, blocks: int, per_user: int, cross: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Users interact within their block of items, rarely across: parts with small halos."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(num_users), per_user)
    block = users * blocks // num_users
    lo = block * num_items // blocks
    hi = (block + 1) * num_items // blocks
    items = lo + (rng.random(users.size) * (hi - lo)).astype(np.int64)
    away = rng.random(users.size) < cross
    items[away] = rng.integers(0, num_items, int(away.sum()))
    keys = np.unique(users * num_items + items)
    return keys // num_items, keys % num_items


def recommendation_task(config, users, items, num_users, num_items):
    from dsgraph.tasks.recommendation import RecommendationTask

    return RecommendationTask(num_users, num_items, (users, items), (users[:5], items[:5]), config)


def write_parts(config, task, folder: Path, num_parts: int, dataset=None) -> Path:
    dataset = dataset or SimpleNamespace(features=None, labels=None, split=None)
    return write_training_parts(config, task, dataset, folder, num_parts)


def local_tasks(config, parts_dir: Path, share: int = 0, sharers: int = 1) -> list:
    meta = read_meta(parts_dir)
    return [
        build_local_task(config, load_partition(parts_dir, p), meta, share, sharers)
        for p in range(meta["num_parts"])
    ]


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    """400 users × 200 items in 4 blocks, a 1-layer LightGCN, 4 parts (2-hop halos)."""
    config = make_config()
    users, items = block_interactions(400, 200, 4, 6, 0.01, seed=0)
    task = recommendation_task(config, users, items, 400, 200)
    parts_dir = write_parts(config, task, tmp_path_factory.mktemp("blocks") / "parts", 4)
    return SimpleNamespace(config=config, task=task, parts_dir=parts_dir)


# ------------------------------------------------------------------ examples and ownership
@settings(max_examples=30, deadline=None)
@given(
    num_parts=st.integers(1, 4),
    num_users=st.integers(8, 60),
    num_items=st.integers(4, 30),
    seed=st.integers(0, 10_000),
    extra_workers=st.integers(0, 3),
    hub_threshold=st.sampled_from([4, 100_000]),
)
def test_every_interaction_is_one_workers_example(
    tmp_path_factory, num_parts, num_users, num_items, seed, extra_workers, hub_threshold
):
    """Also with split hubs: an interaction belongs to the part that owns its user→item edge."""
    config = make_config(partition={"hub_threshold": hub_threshold})
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, num_users * num_items, num_users * 3))
    users, items = keys // num_items, keys % num_items
    task = recommendation_task(config, users, items, num_users, num_items)
    parts_dir = write_parts(config, task, tmp_path_factory.mktemp("ex") / "p", num_parts)
    meta = read_meta(parts_dir)
    owner = np.zeros(num_users + num_items, np.int64)
    taken = []
    for part, share, sharers in assign_parts(num_parts + extra_workers, num_parts):
        local = build_local_task(config, load_partition(parts_dir, part), meta, share, sharers)
        t = local.task
        g_users = local.row_to_global[t.train_users]
        g_items = local.row_to_global[t.train_items + t.num_users] - num_users
        taken.append(g_users * num_items + g_items)
        owned = local.row_to_global[local.kind == 0]
        owner[owned] = part
        # seeds are users this part owns or mirrors (hubs), negatives come from near items
        assert (local.kind[t.train_users] != 2).all()
        if hub_threshold > num_items:
            assert (local.kind[t.train_users] == 0).all()
        assert t.negatives.num_items <= t.num_items
        assert (t.train_items < t.negatives.num_items).all()
    everything = np.sort(np.concatenate(taken))
    np.testing.assert_array_equal(everything, keys)  # every interaction once, none twice


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 60), sharers=st.integers(1, 5))
def test_deal_splits_a_part_among_its_workers(n, sharers):
    hands = [deal(np.arange(n), share, sharers) for share in range(sharers)]
    np.testing.assert_array_equal(np.sort(np.concatenate(hands)), np.arange(n))
    assert max(h.size for h in hands) - min(h.size for h in hands) <= 1


def test_restrict_task_keeps_matching_pairs() -> None:
    task = SimpleNamespace(train_users=np.array([5, 6, 7, 8]), train_items=np.array([1, 2, 3, 4]))
    restrict_task(task, np.array([1, 3]))
    assert task.train_users.tolist() == [6, 8] and task.train_items.tolist() == [2, 4]


def test_local_graph_holds_only_its_part(blocks) -> None:
    from partitioning import PartitionBook

    book = PartitionBook(blocks.parts_dir)
    n = blocks.task.num_nodes
    for part, local in enumerate(local_tasks(blocks.config, blocks.parts_dir)):
        assert local.num_local < n  # the whole graph is not there
        assert local.task.num_nodes == local.num_local
        assert local.task.graph.num_nodes == local.num_local
        owned = np.sort(local.row_to_global[local.kind == 0])
        np.testing.assert_array_equal(owned, np.sort(book.owned(part)))
        assert np.unique(local.row_to_global).size == local.num_local
        # the task's id contract: users first, then items
        users = local.row_to_global[: local.task.num_users]
        assert (users < 400).all() and (local.row_to_global[local.task.num_users :] >= 400).all()


def test_halo_depth_follows_the_model_and_task() -> None:
    assert halo_hops(make_config(model={"num_layers": 3})) == 4  # recommendation: +1 hop
    assert halo_hops(make_config("node_classification", model={"name": "gcn"})) == 1
    cfg = make_config(sampler={"kind": "neighbor", "fanouts": [5, 5]}, model={"num_layers": 2})
    assert halo_hops(cfg) == 3
    # the config may trade exactness at the part's edge for memory
    assert halo_hops(make_config(partition={"halo_hops": 1}, model={"num_layers": 3})) == 1


def test_parts_are_reused_only_when_the_manifest_matches(blocks, tmp_path) -> None:
    folder = write_parts(blocks.config, blocks.task, tmp_path / "parts", 2)
    stamp = (folder / "meta.json").stat().st_mtime_ns
    write_parts(blocks.config, blocks.task, folder, 2)
    assert (folder / "meta.json").stat().st_mtime_ns == stamp  # same settings: reused
    (folder / "part-00001" / "edges.parquet").unlink()
    write_parts(blocks.config, blocks.task, folder, 2)
    assert load_partition(folder, 1).num_owned > 0  # incomplete: rewritten
    (folder / "meta.json").write_text("{not json")
    write_parts(blocks.config, blocks.task, folder, 2)
    assert read_meta(folder)["num_parts"] == 2  # unreadable: rewritten
    write_parts(blocks.config, blocks.task, folder, 3)
    assert read_meta(folder)["num_parts"] == 3  # other settings: rewritten
    num_nodes = blocks.task.graph.num_nodes
    for value in (0.0, 1.0):  # other features, same graph: rewritten with the new features
        features = torch.full((num_nodes, 2), value)
        dataset = SimpleNamespace(features=features, labels=None, split=None)
        write_parts(blocks.config, blocks.task, folder, 3, dataset)
        assert (load_partition(folder, 0).features == value).all()


def test_popularity_negatives_follow_global_item_degrees(blocks) -> None:
    config = make_config(task={"negatives": "popularity", "popularity_alpha": 1.0})
    local = local_tasks(config, blocks.parts_dir)[0]
    t = local.task
    near = t.num_users + np.arange(t.negatives.num_items)
    degree = blocks.task.graph.degrees()[local.row_to_global[near]].astype(np.float64)
    draws = t.negatives._draw(np.random.default_rng(0), 200_000)
    freq = np.bincount(draws, minlength=near.size) / draws.size
    np.testing.assert_allclose(freq, degree / degree.sum(), atol=3e-3)
    # the part's own interaction counts would differ: halo items are under-counted there
    local_counts = np.bincount(t.train_items, minlength=near.size)
    assert not np.allclose(local_counts / local_counts.sum(), degree / degree.sum(), atol=3e-3)


@pytest.mark.parametrize("sharers", [1, 2])
def test_negatives_are_never_a_positive_of_the_part(blocks, sharers) -> None:
    """Workers sharing a part each train on a share of its interactions, but a negative must
    not be an item the user interacted with in another worker's share."""
    config = make_config()
    whole = local_tasks(config, blocks.parts_dir)[0].task  # every interaction the part owns
    positives = set(zip(whole.train_users.tolist(), whole.train_items.tolist(), strict=True))
    for share in range(sharers):
        task = local_tasks(config, blocks.parts_dir, share, sharers)[0].task
        users = np.repeat(np.unique(task.train_users), 50)
        negatives = task.negatives.sample(users, np.random.default_rng(share))
        drawn = zip(users.tolist(), negatives.tolist(), strict=True)
        assert not any(pair in positives for pair in drawn)


def test_parts_of_another_task_are_refused(blocks) -> None:
    config = make_config("node_classification", model={"name": "gcn"})
    meta = read_meta(blocks.parts_dir)
    with pytest.raises(DatasetError, match="written for task 'recommendation'"):
        build_local_task(config, load_partition(blocks.parts_dir, 0), meta)


# ------------------------------------------------------------------ exactness
def _full_and_local_outputs(config, task, parts_dir: Path, in_dim: int = 0):
    """(full-graph output, [(local task, local output)]) of one model with shared weights."""
    from dsgraph.models.registry import build_model

    torch.manual_seed(0)
    out_dim = task.out_dim
    full_model = build_model(config.model, num_nodes=task.num_nodes, in_dim=in_dim, out_dim=out_dim)
    full_model.eval()
    with torch.no_grad():
        full = full_model(task.full_input())
    results = []
    for local in local_tasks(config, parts_dir):
        model = build_model(config.model, num_nodes=local.num_local, in_dim=in_dim, out_dim=out_dim)
        layout = model_layout(full_model)
        load_dense(model, layout, flat_dense(full_model, layout))
        if full_model.embedding is not None:
            with torch.no_grad():
                model.embedding.weight.copy_(
                    full_model.embedding.weight[torch.from_numpy(local.row_to_global)]
                )
        model.eval()
        with torch.no_grad():
            results.append((local, model(local.task.full_input())))
    return full, results


@settings(max_examples=20, deadline=None)
@given(
    num_layers=st.integers(1, 3),
    num_parts=st.integers(2, 4),
    cross=st.sampled_from([0.0, 0.02, 0.3]),
    seed=st.integers(0, 10_000),
)
def test_lightgcn_outputs_of_owned_users_and_near_items_equal_the_full_graph(
    tmp_path_factory, num_layers, num_parts, cross, seed
) -> None:
    config = make_config(model={"num_layers": num_layers})
    users, items = block_interactions(240, 120, 3, 5, cross, seed=seed)
    task = recommendation_task(config, users, items, 240, 120)
    folder = tmp_path_factory.mktemp("lightgcn") / "parts"
    parts_dir = write_parts(config, task, folder, num_parts)
    full, results = _full_and_local_outputs(config, task, parts_dir)
    for local, out in results:
        t = local.task
        exact = np.flatnonzero(local.kind == 0)
        near_items = t.num_users + np.arange(t.negatives.num_items)
        for rows in (exact, near_items):
            torch.testing.assert_close(
                out[rows], full[local.row_to_global[rows]], atol=1e-5, rtol=0
            )


def _sbm(num_nodes: int, classes: int, feature_dim: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, num_nodes)
    src = rng.integers(0, num_nodes, num_nodes * 4)
    dst = rng.integers(0, num_nodes, src.size)
    same = labels[src] == labels[dst]
    keep = (same | (rng.random(src.size) < 0.1)) & (src != dst)
    features = rng.normal(size=(num_nodes, feature_dim)).astype(np.float32)
    features[:, 0] += labels
    split = rng.choice(np.array([1, 2, 3], np.int8), num_nodes, p=[0.5, 0.25, 0.25])
    return src[keep], dst[keep], features, labels, split


@pytest.mark.parametrize(
    ("model", "num_layers"), [("gcn", 1), ("gcn", 2), ("graphsage", 2), ("gat", 2)]
)
def test_owned_nodes_outputs_equal_the_full_graph(tmp_path, model, num_layers) -> None:
    """GCN (global degrees), GraphSAGE (mean) and GAT (softmax over in-edges) on parts."""
    from dsgraph.graph import CSRGraph
    from dsgraph.tasks.node_classification import NodeClassificationTask

    config = make_config(
        "node_classification", model={"name": model, "num_layers": num_layers, "dropout": 0.0}
    )
    src, dst, features, labels, split = _sbm(240, 3, 6, seed=num_layers)
    graph = CSRGraph.from_edges(src, dst, 240, symmetrize=True)
    x = torch.from_numpy(features)
    task = NodeClassificationTask(graph, x, labels, split, config, num_classes=3)
    dataset = SimpleNamespace(features=x, labels=labels, split=split)
    parts_dir = write_parts(config, task, tmp_path / "parts", 3, dataset)
    full, results = _full_and_local_outputs(config, task, parts_dir, in_dim=6)
    seen = 0
    for local, out in results:
        owned = np.flatnonzero(local.kind == 0)
        assert local.num_local < 240 or num_layers > 1
        torch.testing.assert_close(out[owned], full[local.row_to_global[owned]], atol=1e-5, rtol=0)
        # only train nodes the part owns are its examples
        assert (local.kind[local.task.train_nodes] == 0).all()
        seen += local.num_examples
    assert seen == task.train_nodes.size


def test_without_global_degrees_halo_normalisation_would_differ(blocks) -> None:
    """The hook matters: row sums of a part's graph are not the halo nodes' degrees."""
    local = local_tasks(blocks.config, blocks.parts_dir)[0]
    halo_last = local.kind == 2
    row_degrees = local.task.graph.degrees()
    global_degrees = blocks.task.graph.degrees()[local.row_to_global]
    assert (row_degrees[halo_last] < global_degrees[halo_last]).any()
    assert (row_degrees[local.kind == 0] == global_degrees[local.kind == 0]).all()


# ------------------------------------------------------------------ on Ray
def _servers(config, task, parts_dir, run_dir):
    from dsgraph.distributed.driver import _server_config
    from dsgraph.distributed.parameter_server import create_parameter_servers
    from dsgraph.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(config.model, num_nodes=task.num_nodes, in_dim=0, out_dim=task.out_dim)
    layout = model_layout(model)
    initial = model.embedding.weight.detach().numpy().copy()
    servers = create_parameter_servers(
        layout,
        1,
        _server_config(config, Path(run_dir)),
        flat_dense(model, layout),
        {"embedding.weight": initial},
        max_restarts=1,
        timeout=60,
    )
    return servers, layout, initial


@pytest.mark.ray
def test_rows_pushed_by_a_worker_use_global_ids(ray_session, blocks, tmp_path) -> None:
    import ray

    from dsgraph.distributed.ps_client import PSClient
    from dsgraph.distributed.worker import TrainWorker

    servers, layout, initial = _servers(blocks.config, blocks.task, blocks.parts_dir, tmp_path)
    assert not Path(blocks.config.data.path).exists()  # workers never read the dataset
    part = 2
    worker = TrainWorker(
        blocks.config.model_dump(mode="json"), 0, part, 0, 1, str(tmp_path), str(blocks.parts_dir)
    )
    assert global_layout(model_layout(worker.model), initial.shape[0]) == layout
    worker.connect(servers)
    stats = worker.train(3)
    assert stats["acks"]["applied"] == 3
    # the worker's model holds the part's rows only
    assert worker.model.embedding.weight.shape[0] == worker.local.num_local < initial.shape[0]
    client = PSClient(servers, layout, worker=-1, timeout=60)
    after = client.pull_rows("embedding.weight", np.arange(initial.shape[0]))
    changed = np.flatnonzero(np.abs(after - initial).sum(axis=1) > 0)
    mine = worker.row_to_global
    assert np.isin(changed, mine).all()  # nothing outside the part moved
    owned = mine[worker.local.kind == 0]
    assert np.isin(owned, changed).all()  # the part's own nodes did
    # had local ids been pushed, rows 0..num_local-1 would have moved instead
    assert not np.isin(changed, np.arange(worker.local.num_local)).all()
    for s in servers:
        ray.kill(s)


@pytest.mark.ray
def test_a_restarted_worker_reloads_its_part_and_checkpoint(ray_session, blocks, tmp_path):
    import ray

    from dsgraph.distributed.driver import await_restart
    from dsgraph.distributed.worker import TrainWorker

    config = blocks.config.model_copy(deep=True)
    config.train.checkpoint_every = 2
    servers, _, _ = _servers(config, blocks.task, blocks.parts_dir, tmp_path)
    part = 1
    actor = (
        ray.remote(TrainWorker)
        .options(max_restarts=1, num_cpus=0)
        .remote(config.model_dump(mode="json"), 0, part, 0, 1, str(tmp_path), str(blocks.parts_dir))
    )
    before = ray.get(actor.connect.remote(servers), timeout=60)
    assert ray.get(actor.train.remote(5), timeout=120)["step"] == 5
    ray.kill(actor, no_restart=False)
    deadline = time.monotonic() + 60
    info = await_restart(actor, 60)
    while info is not None and info["pid"] == before["pid"] and time.monotonic() < deadline:
        time.sleep(0.2)  # the kill is asynchronous: the old process may still answer once
        info = await_restart(actor, 60)
    assert info is not None and info["pid"] != before["pid"]
    expected = load_partition(blocks.parts_dir, part)
    assert info["part"] == part and info["num_local"] == expected.num_local
    assert info["num_owned"] == expected.num_owned
    assert info["restored_step"] == 4  # its last checkpoint (every 2 steps)
    # what the driver meets when Ray restarts a worker between two chunks: it reconnects it
    with pytest.raises(ray.exceptions.RayTaskError) as unconnected:
        ray.get(actor.train.remote(6), timeout=120)
    assert isinstance(unconnected.value.cause, WorkerNotConnectedError)
    ray.get(actor.connect.remote(servers), timeout=60)
    assert ray.get(actor.train.remote(6), timeout=120)["step"] == 6
    for a in [actor, *servers]:
        ray.kill(a)


def test_parts_not_written_for_training_are_refused(tmp_path) -> None:
    from partitioning import partition, write_partitioned

    config = make_config()
    users, items = block_interactions(40, 20, 2, 3, 0.1, seed=0)
    graph = recommendation_task(config, users, items, 40, 20).graph
    out = write_partitioned(tmp_path / "p", graph, partition(graph, 2))  # `dsgraph partition`
    with pytest.raises(DatasetError, match="not written for training"):
        build_local_task(config, load_partition(out, 0), read_meta(out))


def test_parts_without_degrees_are_refused(blocks) -> None:
    import dataclasses

    local = dataclasses.replace(load_partition(blocks.parts_dir, 0), degrees=None)
    with pytest.raises(DatasetError, match="no 'degree' column"):
        build_local_task(blocks.config, local, read_meta(blocks.parts_dir))


class _Toy(torch.nn.Module):
    embedding_parameter_names = staticmethod(lambda: ["emb.weight"])

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(9, 3)
        self.lin = torch.nn.Linear(3, 2)


def test_layout_separates_tables_and_flat_round_trip() -> None:
    torch.manual_seed(0)
    model = _Toy()
    layout = model_layout(model)
    assert [t.name for t in layout.tables] == ["emb.weight"]
    assert layout.tables[0].num_rows == 9 and layout.tables[0].dim == 3
    assert [t.name for t in layout.tensors] == ["lin.weight", "lin.bias"]
    flat = flat_dense(model, layout)
    assert flat.dtype == np.float32 and flat.size == layout.dense_numel == 8
    other = _Toy()
    load_dense(other, layout, flat)
    assert torch.equal(other.lin.weight, model.lin.weight)
    assert torch.equal(other.lin.bias, model.lin.bias)
    assert global_layout(layout, 50).tables[0].num_rows == 50
    assert global_layout(layout, 50).tensors == layout.tensors
