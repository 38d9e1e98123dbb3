"""GraphSAGE fan-out neighbour sampling (Hamilton et al., NeurIPS 2017) over a CSRGraph."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph
from samplers import kernels_neighbor as KN
from samplers._checks import check_nonneg_int, check_seeds
from samplers._rng import key_for
from samplers.tables import build_tables

if TYPE_CHECKING:
    import torch

_EMPTY_F32 = np.empty(0, dtype=np.float32)
_EMPTY_I32 = np.empty(0, dtype=np.int32)


@dataclass(frozen=True)
class SampledSubgraph:
    """A relabelled message-flow graph of one mini-batch.

    ``nodes`` int64 [n]: global ids, the ``num_seeds`` seeds first in input order, then each
    hop's new nodes in order of discovery. ``row``/``col`` int64 [m]: local ids of each sampled
    edge's source (the sampled neighbour) and target (the node it was sampled from), so messages
    flow row → col. ``edge`` int64 [m]: the CSR position of each edge in the sampled graph.
    ``num_sampled_nodes`` / ``num_sampled_edges``: per hop (nodes: seeds first, length
    hops + 1; edges: length hops). Edges are grouped by target in ascending local id.
    """

    nodes: np.ndarray
    num_seeds: int
    row: np.ndarray
    col: np.ndarray
    edge: np.ndarray
    num_sampled_nodes: list[int]
    num_sampled_edges: list[int]

    @property
    def num_nodes(self) -> int:
        return int(self.nodes.size)

    @property
    def num_edges(self) -> int:
        return int(self.row.size)

    def edge_index(self) -> torch.Tensor:
        """[2, m] int64 tensor (row = source, col = target), PyG's ``edge_index`` layout."""
        import torch

        return torch.from_numpy(np.stack([self.row, self.col]))

    def adj_t(self) -> torch.Tensor:
        """``torch.sparse_csr`` [n, n] with row = target and column = source, values 1.0.

        Built without sorting: edges are already grouped by target in ascending order.
        """
        import torch

        counts = np.bincount(self.col, minlength=self.num_nodes)
        indptr = np.zeros(self.num_nodes + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return torch.sparse_csr_tensor(
            torch.from_numpy(indptr),
            torch.from_numpy(self.row),
            torch.ones(self.num_edges),
            size=(self.num_nodes, self.num_nodes),
            check_invariants=False,
        )


class NeighborSampler:
    """Fan-out sampling: hop h draws up to ``fanouts[h]`` edges of every node new at hop h.

    Samples a node's CSR row (its out-edges). For messages that follow edge direction as in
    PyG (in-neighbours), pass ``graph.reverse()``; undirected graphs are symmetric anyway.
    ``replace`` draws with replacement (exactly fanout per node with an edge); without it a
    node keeps all its edges when it has at most fanout. ``weighted`` draws ∝ edge weight
    (alias tables with replacement, Efraimidis–Spirakis without); zero-weight edges are never
    drawn. A fan-out of −1 takes every edge.

    Determinism: node u's draws at hop h come from a stream derived from (seed, epoch, h, u),
    so the result does not depend on the thread count.
    """

    def __init__(
        self,
        graph: CSRGraph,
        fanouts: Sequence[int],
        *,
        replace: bool = False,
        weighted: bool = False,
        seed: int = 0,
    ) -> None:
        fanouts = list(fanouts)
        if not fanouts:
            raise SamplerError("fanouts must list at least one hop, e.g. [15, 10]")
        for h, f in enumerate(fanouts):
            if isinstance(f, bool) or not isinstance(f, int | np.integer) or (f < 1 and f != -1):
                raise SamplerError(f"fanouts[{h}] must be an integer ≥ 1 or −1 (all), got {f!r}")
        if len(fanouts) > 63:
            raise SamplerError(f"at most 63 hops are supported, got {len(fanouts)}")
        if weighted and graph.weights is None:
            raise SamplerError("weighted=True needs a graph with edge weights (graph.weights)")
        check_nonneg_int(seed, "seed")
        self.graph = graph
        self.fanouts = [int(f) for f in fanouts]
        self.replace = bool(replace)
        self.weighted = bool(weighted)
        self.seed = int(seed)
        self._prob, self._alias = _EMPTY_F32, _EMPTY_I32
        if self.weighted and self.replace:
            tables = build_tables(graph, edge_weights=graph.weights, table="alias")
            self._prob, self._alias = tables.prob, tables.alias
        self._weights = graph.weights if self.weighted else _EMPTY_F32
        self._scratch = threading.local()
        self._max_degree = int(graph.degrees().max(initial=0))

    def sample(self, seeds: np.ndarray, epoch: int = 0) -> SampledSubgraph:
        """Sample the multi-hop neighbourhood of ``seeds`` (unique node ids)."""
        check_nonneg_int(epoch, "epoch")
        seeds = check_seeds(seeds, self.graph, "seeds")
        new_id = self._take_scratch()
        result = self._sample(seeds, epoch, new_id)  # on error the scratch is simply dropped
        self._scratch.new_id = new_id  # every entry is back to −1
        return result

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_scratch"]  # thread-local scratch is not picklable (spawned loader workers)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._scratch = threading.local()

    def _take_scratch(self) -> np.ndarray:
        # A global-id → local-id map of −1s, reused across calls (allocating N entries per batch
        # costs milliseconds on large graphs); one per thread, so concurrent calls are safe.
        new_id = getattr(self._scratch, "new_id", None)
        self._scratch.new_id = None
        if new_id is None:
            new_id = np.full(self.graph.num_nodes, -1, dtype=np.int64)
        return new_id

    def _sample(self, seeds: np.ndarray, epoch: int, new_id: np.ndarray) -> SampledSubgraph:
        g = self.graph
        new_id[seeds] = np.arange(seeds.size)
        if np.unique(seeds).size != seeds.size:
            new_id[seeds] = -1
            dup = _first_duplicate(seeds)
            raise SamplerError(f"seeds must be unique: row {dup} repeats node {int(seeds[dup])}")
        key = key_for(self.seed, epoch)
        capacity = seeds.size
        nodes = seeds.copy()
        num_nodes = seeds.size
        frontier_lo, frontier_hi = 0, seeds.size
        rows, cols, edges = [], [], []
        n_nodes_per_hop, n_edges_per_hop = [int(seeds.size)], []
        for hop, fanout in enumerate(self.fanouts):
            frontier = nodes[frontier_lo:frontier_hi]
            # Fan-out −1 takes every edge once, whatever `replace` says.
            k = self._max_degree if fanout == -1 else fanout
            replace = self.replace and fanout != -1
            counts = np.empty(frontier.size, dtype=np.int64)
            KN.count_samples(g.indptr, self._weights, self.weighted, frontier, k, replace, counts)
            offsets = np.zeros(frontier.size + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            sampled = np.empty(int(offsets[-1]), dtype=np.int64)
            fill = (
                KN.fill_samples
                if frontier.size >= KN.PARALLEL_MIN_NODES
                else KN.fill_samples_serial
            )
            fill(
                g.indptr,
                self._weights,
                self.weighted,
                self._prob,
                self._alias,
                frontier,
                offsets,
                k,
                replace,
                key,
                hop,
                sampled,
            )
            if num_nodes + sampled.size > capacity:
                capacity = max(2 * capacity, num_nodes + sampled.size)
                grown = np.empty(capacity, dtype=np.int64)
                grown[:num_nodes] = nodes[:num_nodes]
                nodes = grown
            src_local, new_total = KN.relabel(g.indices, sampled, new_id, nodes, num_nodes)
            rows.append(src_local)
            cols.append(np.repeat(np.arange(frontier_lo, frontier_hi, dtype=np.int64), counts))
            edges.append(sampled)
            n_nodes_per_hop.append(int(new_total - num_nodes))
            n_edges_per_hop.append(int(sampled.size))
            frontier_lo, frontier_hi, num_nodes = num_nodes, new_total, new_total
        new_id[nodes[:num_nodes]] = -1
        return SampledSubgraph(
            nodes=nodes[:num_nodes].copy(),
            num_seeds=int(seeds.size),
            row=np.concatenate(rows),
            col=np.concatenate(cols),
            edge=np.concatenate(edges),
            num_sampled_nodes=n_nodes_per_hop,
            num_sampled_edges=n_edges_per_hop,
        )


def _first_duplicate(values: np.ndarray) -> int:
    _, first = np.unique(values, return_index=True)
    mask = np.ones(values.size, dtype=bool)
    mask[first] = False
    return int(np.argmax(mask))
