"""Layer-wise full-graph inference: every node's embedding, one layer at a time.

Instead of sampling neighbourhoods per node, each layer is computed for all nodes at once with
one sparse product over the whole graph, so the cost is O(L·E·d) and no receptive field is
recomputed twice. This is the reference that incremental updates must reproduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dsgraph.graph import CSRGraph
from dsgraph.inference.aggregation import AggSpec, sparse_csr


def _in_adjacency(graph: CSRGraph, spec: AggSpec) -> tuple[torch.Tensor, np.ndarray]:
    """Row v = sources of edges into v, values = edge factors; and per-node in-degree."""
    rev = graph.reverse()
    w = np.ones(rev.num_edges, np.float32) if rev.weights is None else rev.weights
    values = spec.edge_values(w)
    adj = sparse_csr(rev.indptr, rev.indices, values, graph.num_nodes)
    contrib = spec.degree_contribution(w)
    cs = np.concatenate([[0.0], np.cumsum(contrib)])
    degree = cs[rev.indptr[1:]] - cs[rev.indptr[:-1]]
    return adj, degree


def layerwise_inference(
    model: Any,
    graph: CSRGraph,
    features: torch.Tensor | np.ndarray | None = None,
    *,
    return_layers: bool = False,
) -> torch.Tensor | list[torch.Tensor]:
    """Final embeddings [N, d] float32 of every node of ``graph`` under ``model``.

    ``model`` follows the layer-wise contract (dsgraph/models/base.py): ``input_embedding``,
    ``layer_update``, ``combine``, ``aggregation`` and ``self_loops``. Aggregation runs over
    in-neighbours. With ``return_layers`` the list ``[h^0 … h^L]`` is returned instead.
    Deterministic: no sampling, no randomness.
    """
    spec = AggSpec.from_model(model)
    x = None if features is None else torch.as_tensor(features, dtype=torch.float32)
    adj, degree = _in_adjacency(graph, spec)
    scale = torch.from_numpy(spec.scale(degree))
    model = model.eval()
    with torch.no_grad():
        h = model.input_embedding(torch.arange(graph.num_nodes), x).float()
        hs = [h]
        for layer in range(int(model.num_layers)):
            total = adj @ spec.message(h, scale)
            agg = spec.finish(total, h, scale)
            h = model.layer_update(layer, agg, h).float()
            hs.append(h)
        if return_layers:
            return hs
        return model.combine(hs).float()
