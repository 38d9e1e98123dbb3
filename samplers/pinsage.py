"""PinSAGE importance-based neighbourhoods (Ying et al., KDD 2018) over a CSRGraph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph
from samplers import kernels_pinsage as KP
from samplers._checks import check_nonneg_int, check_seeds
from samplers._rng import key_for


@dataclass(frozen=True)
class ImportanceNeighbors:
    """Top-T neighbours per seed: ``neighbors`` int64 [B, T] (−1 padded) and ``weights``
    float32 [B, T] (0 padded); each row of weights sums to 1 unless the seed reached nothing."""

    neighbors: np.ndarray
    weights: np.ndarray


class PinSAGESampler:
    """Importance neighbourhoods: visit counts of short random walks with restart.

    For each seed, ``num_walks`` uniform walks of ``walk_length`` steps, each step returning to
    the seed with probability ``restart_prob`` (a dead end returns too); the ``top_t`` most
    visited other nodes become its neighbours, weighted by L1-normalised visit counts. Nodes
    with more (and shorter) paths from the seed collect more visits.

    Determinism: walk r of the i-th seed uses a stream derived from (seed, epoch, i, r), so the
    result is the same for any thread count.
    """

    def __init__(
        self,
        graph: CSRGraph,
        num_walks: int,
        walk_length: int,
        restart_prob: float,
        top_t: int,
        seed: int = 0,
    ) -> None:
        for name, value in (("num_walks", num_walks), ("walk_length", walk_length)):
            check_nonneg_int(value, name)
        check_nonneg_int(seed, "seed")
        check_nonneg_int(top_t, "top_t")
        if top_t == 0:
            raise SamplerError("top_t must be ≥ 1")
        if not (0.0 <= restart_prob < 1.0):
            raise SamplerError(f"restart_prob must be in [0, 1), got {restart_prob}")
        self.graph = graph
        self.num_walks = int(num_walks)
        self.walk_length = int(walk_length)
        self.restart_prob = float(restart_prob)
        self.top_t = int(top_t)
        self.seed = int(seed)

    def sample(
        self, seeds: np.ndarray, epoch: int = 0, *, first_id: int = 0
    ) -> ImportanceNeighbors:
        """Importance neighbours of ``seeds`` (int ids) for this ``epoch``.

        Seed i is seed number ``first_id + i`` of the run (chunks pass the count before them).
        """
        check_nonneg_int(epoch, "epoch")
        check_nonneg_int(first_id, "first_id")
        seeds = check_seeds(seeds, self.graph, "seeds")
        neighbors = np.empty((seeds.size, self.top_t), dtype=np.int64)
        weights = np.empty((seeds.size, self.top_t), dtype=np.float32)
        KP.importance_neighbors(
            self.graph.indptr,
            self.graph.indices,
            seeds,
            self.num_walks,
            self.walk_length,
            self.restart_prob,
            self.top_t,
            key_for(self.seed, epoch),
            first_id,
            neighbors,
            weights,
        )
        return ImportanceNeighbors(neighbors, weights)
