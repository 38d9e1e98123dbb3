"""Labelled SBM: determinism, homophily, class-correlated features, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsgraph.datasets import generate_sbm, sbm_graph
from dsgraph.errors import GraphFormatError
from dsgraph.storage import read_dataset


def test_deterministic_per_seed() -> None:
    a, b, c = (sbm_graph(500, 4, 8, seed=s) for s in (1, 1, 2))
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["src"], c["src"])


def test_structure_matches_parameters() -> None:
    g = sbm_graph(4000, 5, 16, avg_degree=12, homophily=0.8, seed=0)
    src, dst, y = g["src"], g["dst"], g["labels"]
    assert (src < dst).all()  # each undirected edge once, no self-loops
    assert np.unique(src * 4000 + dst).size == src.size
    assert abs(2 * src.size / 4000 - 12) < 0.5
    assert abs(np.mean(y[src] == y[dst]) - 0.8) < 0.02
    assert np.bincount(y).tolist() == [800] * 5


def test_features_are_class_correlated_but_noisy() -> None:
    g = sbm_graph(3000, 4, 32, seed=0, feature_noise=1.5)
    x, y = g["features"], g["labels"]
    train = g["split"] == 1
    centroids = np.stack([x[train & (y == c)].mean(0) for c in range(4)])
    pred = np.argmin(((x[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    acc = np.mean(pred[g["split"] == 3] == y[g["split"] == 3])
    assert 0.4 < acc < 0.999  # informative, not trivially separable


def test_split_sizes() -> None:
    g = sbm_graph(3000, 6, 4, seed=3, train_per_class=20, num_val=500, num_test=1000)
    assert np.bincount(g["split"], minlength=4).tolist() == [3000 - 120 - 1500, 120, 500, 1000]
    train = g["split"] == 1
    assert np.bincount(g["labels"][train]).tolist() == [20] * 6


def test_generate_writes_a_readable_dataset(tmp_path: Path) -> None:
    ds = read_dataset(generate_sbm(tmp_path / "sbm", 600, 3, 5, seed=4))
    assert ds.meta.num_classes == 3 and ds.meta.feature_dim == 5 and not ds.meta.directed
    assert ds.graph.is_symmetric() and ds.meta.extra["generator"]["seed"] == 4


@pytest.mark.parametrize("args", [(10, 1, 4), (5, 3, 4), (100, 3, 0)])
def test_bad_parameters(args: tuple) -> None:
    with pytest.raises(GraphFormatError):
        sbm_graph(*args)
