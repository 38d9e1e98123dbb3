"""User–item generator: determinism, bipartite shape, power-law popularity, predictability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from dsgraph.datasets import default_recommender_dataset, generate_user_item
from dsgraph.datasets.user_item import user_item_interactions
from dsgraph.errors import GraphFormatError
from dsgraph.storage import read_dataset


def test_deterministic_per_seed() -> None:
    a, b = (
        user_item_interactions(300, 200, 10, seed=5),
        user_item_interactions(300, 200, 10, seed=5),
    )
    c = user_item_interactions(300, 200, 10, seed=6)
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["dst"], c["dst"])


def test_bipartite_no_duplicates_and_split_per_user() -> None:
    u, i = 400, 300
    a = user_item_interactions(u, i, 15, seed=0)
    src, dst, split = a["src"], a["dst"], a["edge_split"]
    assert src.max() < u and dst.min() >= u and dst.max() < u + i
    assert np.unique(src * (u + i) + dst).size == src.size
    counts = np.bincount(src, minlength=u)
    assert counts.min() >= 5
    test_counts = np.bincount(src[split == 3], minlength=u)
    assert np.array_equal(test_counts, np.ceil(0.2 * counts).astype(int))
    for user in range(0, u, 41):  # test interactions are each user's latest
        mine = src == user
        assert (
            a["timestamp"][mine & (split == 1)].max() <= a["timestamp"][mine & (split == 3)].min()
        )


def test_item_popularity_is_heavy_tailed() -> None:
    a = user_item_interactions(2000, 1000, 25, seed=0)
    pop = np.sort(np.bincount(a["dst"] - 2000, minlength=1000))[::-1]
    assert pop[0] > 8 * np.median(pop)
    assert pop[:100].sum() > 0.3 * pop.sum()  # top 10 % of items hold > 30 % of interactions


def _recall_at_k(scores: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> float:
    scores = scores.astype(float).copy()
    scores[train.nonzero()] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    hits = np.take_along_axis(test.toarray(), top, 1).sum(1)
    n = np.asarray(test.sum(1)).ravel()
    return float(np.mean(hits[n > 0] / np.minimum(n[n > 0], k)))


def test_held_out_interactions_are_predictable_from_the_graph() -> None:
    u, i = 1500, 800
    a = user_item_interactions(u, i, 25, seed=1)
    tr = a["edge_split"] == 1
    items = a["dst"] - u
    train = sp.csr_matrix((np.ones(tr.sum()), (a["src"][tr], items[tr])), shape=(u, i))
    test = sp.csr_matrix((np.ones((~tr).sum()), (a["src"][~tr], items[~tr])), shape=(u, i))
    popularity = np.asarray(train.sum(0)).ravel()
    pop_recall = _recall_at_k(np.tile(popularity, (u, 1)), train, test, 20)
    # Two-hop propagation over the training graph (user → item → user → item), degree-normalised
    # like LightGCN: what any graph model can at least exploit.
    norm = train.multiply(1 / np.sqrt(np.maximum(popularity, 1))[None, :]).tocsr()
    graph_recall = _recall_at_k((train @ (norm.T @ norm)).toarray(), train, test, 20)
    assert pop_recall > 0.05  # popularity is a real baseline …
    assert graph_recall > 1.8 * pop_recall  # … that the graph clearly beats


def test_generate_and_default_dataset(tmp_path: Path) -> None:
    ds = read_dataset(generate_user_item(tmp_path / "ui", 50, 40, 8, seed=2))
    assert ds.num_users == 50 and ds.num_items == 40 and ds.meta.node_types["item"] == [50, 90]
    assert ds.graph.is_symmetric() and ds.meta.edge_splits["test"] > 0
    path = default_recommender_dataset(tmp_path / "data")
    first = (path / "edges.parquet").read_bytes()
    mtime = (path / "edges.parquet").stat().st_mtime_ns
    assert default_recommender_dataset(tmp_path / "data") == path  # reused, not regenerated
    assert (path / "edges.parquet").stat().st_mtime_ns == mtime
    default = read_dataset(path)
    assert default.num_users == 2000 and default.num_items == 1000
    assert 40_000 < default.meta.num_edges < 60_000
    (path / "meta.json").write_text("{broken")
    assert (default_recommender_dataset(tmp_path / "data") / "edges.parquet").read_bytes() == first


@pytest.mark.parametrize("args", [(0, 10), (10, 1)])
def test_bad_parameters(args: tuple) -> None:
    with pytest.raises(GraphFormatError):
        user_item_interactions(*args)
