"""An independent model of the graph under events: edge set + feature rows, rebuilt as CSR."""

from __future__ import annotations

import numpy as np
import torch

from dsgraph.graph import CSRGraph
from dsgraph.inference.events import AddEdge, AddNode, RemoveEdge, UpdateFeatures


class Oracle:
    """Applies the accepted events to a plain Python edge set; the ground truth for tests."""

    def __init__(self, graph: CSRGraph, features: torch.Tensor | None, undirected: bool):
        src, dst = graph.edges()
        self.edges = dict(
            zip(zip(src.tolist(), dst.tolist(), strict=True), [1.0] * src.size, strict=True)
        )
        if graph.weights is not None:
            self.edges = dict(
                zip(
                    zip(src.tolist(), dst.tolist(), strict=True),
                    graph.weights.tolist(),
                    strict=True,
                )
            )
        self.n = graph.num_nodes
        self.x = None if features is None else features.clone()
        self.undirected = undirected
        self.weighted = graph.weights is not None

    def apply(self, events) -> None:
        for ev in events:
            pairs = (
                [(ev.src, ev.dst), (ev.dst, ev.src)]
                if isinstance(ev, AddEdge | RemoveEdge) and self.undirected
                else [(getattr(ev, "src", None), getattr(ev, "dst", None))]
            )
            if isinstance(ev, AddEdge):
                for p in pairs:
                    self.edges[p] = ev.weight
            elif isinstance(ev, RemoveEdge):
                for p in pairs:
                    del self.edges[p]
            elif isinstance(ev, UpdateFeatures):
                self.x[ev.node] = torch.tensor(ev.values)
            elif isinstance(ev, AddNode):
                self.n += 1
                if self.x is not None:
                    self.x = torch.cat([self.x, torch.tensor([ev.features])])

    def graph(self) -> CSRGraph:
        keys = sorted(self.edges)
        src = np.array([k[0] for k in keys], dtype=np.int64)
        dst = np.array([k[1] for k in keys], dtype=np.int64)
        w = np.array([self.edges[k] for k in keys], dtype=np.float32) if self.weighted else None
        return CSRGraph.from_edges(src, dst, self.n, w)
