"""PyG adapter: dsgraph's fan-out sampler behind ``torch_geometric.sampler.BaseSampler``.

``NodeLoader(data, node_sampler=DsgraphSampler(data, [15, 10]), ...)`` and
``LinkLoader(data, link_sampler=DsgraphSampler(...), neg_sampling=...)`` then yield ordinary
PyG ``Data`` mini-batches, with no pyg-lib or torch-sparse installed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    NegativeSampling,
    NodeSamplerInput,
    SamplerOutput,
)

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph, index_dtype
from samplers.neighbor import NeighborSampler, SampledSubgraph


def incoming_csr(edge_index: np.ndarray, num_nodes: int, edge_weight: np.ndarray | None = None):
    """CSR of in-neighbours (row v lists the sources of edges into v) and its edge order.

    Returns (graph, perm): CSR position e holds original edge ``perm[e]``; rows are sorted.
    Sampling rows of this graph moves messages along edge direction, as PyG's samplers do.
    """
    src = np.asarray(edge_index[0], dtype=np.int64)
    dst = np.asarray(edge_index[1], dtype=np.int64)
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= num_nodes):
        raise SamplerError(f"edge_index holds node ids outside [0, {num_nodes})")
    perm = np.lexsort((src, dst))
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=num_nodes), out=indptr[1:])
    indices = src[perm].astype(index_dtype(num_nodes))
    weights = None
    if edge_weight is not None:
        weights = np.ascontiguousarray(np.asarray(edge_weight, dtype=np.float32)[perm])
    return CSRGraph(indptr, indices, weights), perm


class DsgraphSampler(BaseSampler):
    """Homogeneous fan-out sampling for PyG's ``NodeLoader`` and ``LinkLoader``.

    ``num_neighbors[h]`` in-neighbours per node at hop h (−1: all), optionally with
    replacement or ∝ ``data.edge_weight`` (``weighted=True``). Batches are reproducible:
    call i of this sampler uses epoch ``self.epoch · 2**20 + i`` of the underlying
    :class:`NeighborSampler`; set ``epoch`` (e.g. per training epoch) to restart the sequence.
    Negative links are drawn with a numpy generator seeded from the same (seed, call).
    With ``num_workers > 0`` every worker process counts its own calls.
    """

    def __init__(
        self,
        data: Data,
        num_neighbors: Sequence[int],
        *,
        replace: bool = False,
        weighted: bool = False,
        seed: int = 0,
    ) -> None:
        num_nodes = int(data.num_nodes)
        ew = getattr(data, "edge_weight", None)
        if weighted and ew is None:
            raise SamplerError("weighted=True needs data.edge_weight")
        weight = ew.detach().cpu().numpy() if weighted else None
        graph, perm = incoming_csr(data.edge_index.detach().cpu().numpy(), num_nodes, weight)
        self.graph = graph
        self.num_nodes = num_nodes
        self.sampler = NeighborSampler(
            graph, num_neighbors, replace=replace, weighted=weighted, seed=seed
        )
        self.seed = int(seed)
        self.epoch = 0
        self._calls = 0
        self._perm = torch.from_numpy(perm)

    @property
    def edge_permutation(self) -> torch.Tensor:
        """Original edge id of every CSR position (PyG maps ``SamplerOutput.edge`` through it)."""
        return self._perm

    def _next_call(self) -> int:
        call = self.epoch * 2**20 + self._calls
        self._calls += 1
        return call

    def _output(self, sub: SampledSubgraph, metadata: tuple) -> SamplerOutput:
        return SamplerOutput(
            node=torch.from_numpy(sub.nodes),
            row=torch.from_numpy(sub.row),
            col=torch.from_numpy(sub.col),
            edge=torch.from_numpy(sub.edge),
            batch=None,
            num_sampled_nodes=sub.num_sampled_nodes,
            num_sampled_edges=sub.num_sampled_edges,
            metadata=metadata,
        )

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        """Sample around the batch's seed nodes (must be unique)."""
        if index.time is not None:
            raise SamplerError("temporal sampling (input_time) is not supported")
        sub = self.sampler.sample(index.node.cpu().numpy(), self._next_call())
        return self._output(sub, (index.input_id, index.time))

    def sample_from_edges(
        self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None
    ) -> SamplerOutput:
        """Sample around both ends of the batch's links, plus negatives when requested.

        Metadata follows PyG's ``LinkLoader``: binary mode gives (input_id,
        edge_label_index, edge_label, None); triplet mode gives (input_id, src_index,
        dst_pos_index, dst_neg_index, None), indices local to the sampled nodes.
        """
        if index.time is not None:
            raise SamplerError("temporal sampling (edge_label_time) is not supported")
        call = self._next_call()
        rng = np.random.default_rng([self.seed, call])
        src = index.row.cpu().numpy().astype(np.int64)
        dst = index.col.cpu().numpy().astype(np.int64)
        num_pos = src.size
        label = index.label
        triplet = neg_sampling is not None and neg_sampling.is_triplet()
        if neg_sampling is not None:
            num_neg = math.ceil(num_pos * neg_sampling.amount)
            dst_neg = self._negatives(rng, num_neg, neg_sampling.dst_weight)
            if triplet:
                if label is not None:
                    raise SamplerError("triplet negative sampling takes no edge labels")
                dst = np.concatenate([dst, dst_neg])
            else:
                src = np.concatenate([src, self._negatives(rng, num_neg, neg_sampling.src_weight)])
                dst = np.concatenate([dst, dst_neg])
                if label is None:
                    label = torch.ones(num_pos)
                label = torch.cat([label, label.new_zeros((num_neg, *label.shape[1:]))])
        seeds, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
        sub = self.sampler.sample(seeds, call)
        inv = torch.from_numpy(inverse.astype(np.int64))
        if triplet:
            dst_neg_index = inv[2 * num_pos :].view(num_pos, -1).squeeze(-1)
            meta = (index.input_id, inv[:num_pos], inv[num_pos : 2 * num_pos], dst_neg_index, None)
        else:
            meta = (index.input_id, inv.view(2, -1), label, None)
        return self._output(sub, meta)

    def _negatives(self, rng: np.random.Generator, n: int, weight: torch.Tensor | None):
        if weight is None:
            return rng.integers(0, self.num_nodes, n, dtype=np.int64)
        p = weight.detach().cpu().numpy().astype(np.float64)
        return rng.choice(self.num_nodes, size=n, p=p / p.sum()).astype(np.int64)
