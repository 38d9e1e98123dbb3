"""Parquet export: chunked writing equals one big call; files are complete or absent."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from dsgraph.graph import CSRGraph
from samplers.export import write_neighbor_samples, write_pinsage, write_walks
from samplers.neighbor import NeighborSampler
from samplers.pinsage import PinSAGESampler
from samplers.walks import RandomWalkSampler


def _graph() -> CSRGraph:
    rng = np.random.default_rng(0)
    return CSRGraph.from_edges(rng.integers(0, 200, 1500), rng.integers(0, 200, 1500), 200)


def test_chunked_walks_equal_one_call(tmp_path):
    g = _graph()
    sampler = RandomWalkSampler(g, 5, p=2.0, q=0.5, seed=3)
    starts = sampler.default_starts()
    path = write_walks(sampler, tmp_path / "w.parquet", starts, walks_per_node=2, chunk=37)
    t = pq.read_table(path)
    walks = np.array(t.column("nodes").to_pylist())
    whole = sampler.walk(np.concatenate([starts, starts]))
    np.testing.assert_array_equal(walks, whole)
    assert t.column("walk").to_pylist() == list(range(2 * starts.size))


def test_chunked_pinsage_equals_one_call(tmp_path):
    g = _graph()
    sampler = PinSAGESampler(g, 10, 3, 0.3, top_t=4, seed=1)
    seeds = np.arange(200)
    t = pq.read_table(write_pinsage(sampler, tmp_path / "p.parquet", seeds, chunk=33))
    whole = sampler.sample(seeds)
    np.testing.assert_array_equal(np.array(t.column("neighbors").to_pylist()), whole.neighbors)
    np.testing.assert_array_equal(
        np.array(t.column("weights").to_pylist(), dtype=np.float32), whole.weights
    )


def test_neighbor_batches(tmp_path):
    g = _graph()
    sampler = NeighborSampler(g, [3, 2], seed=2)
    seeds = np.arange(120)
    t = pq.read_table(write_neighbor_samples(sampler, tmp_path / "n.parquet", seeds, batch_size=50))
    d = t.to_pydict()
    assert sorted(set(d["batch"])) == [0, 1, 2]
    first = sampler.sample(seeds[:50], 0)
    mask = np.array(d["batch"]) == 0
    np.testing.assert_array_equal(np.array(d["edge"])[mask], first.edge)
