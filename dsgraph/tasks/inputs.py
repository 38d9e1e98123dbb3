"""Graph inputs for a step: the full graph, a fan-out sample, or PinSAGE importance neighbours."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dsgraph.config import SamplerConfig
from dsgraph.errors import ConfigError
from dsgraph.models.base import GraphInput
from dsgraph.tasks.base import adj_from_graph


class InputBuilder:
    """Makes the :class:`GraphInput` of a step according to ``sampler.kind``.

    ``full``: one cached input over the whole graph; ``neighbor``: ``samplers.NeighborSampler``
    message-flow graphs around the seeds (seeds first); ``pinsage``: the whole graph with each
    node's top-T importance neighbours from ``samplers.PinSAGESampler`` (re-drawn per epoch).
    Features, when present, are gathered for the sampled nodes.
    """

    def __init__(self, graph: Any, features: torch.Tensor | None, cfg: SamplerConfig) -> None:
        self.graph = graph
        self.features = features
        self.cfg = cfg
        self._full: GraphInput | None = None
        self._pinsage_epoch: tuple[int, GraphInput] | None = None
        self._sampler: Any = None
        self._degrees: torch.Tensor | None = None
        if cfg.kind == "neighbor":
            self._sampler = _import_sampler("NeighborSampler")(
                graph, list(cfg.fanouts), seed=cfg.seed
            )
        elif cfg.kind == "pinsage":
            self._sampler = _import_sampler("PinSAGESampler")(
                graph, cfg.num_walks, cfg.walk_length, cfg.restart_prob, cfg.top_t, seed=cfg.seed
            )

    @property
    def samples_per_batch(self) -> bool:
        return self.cfg.kind == "neighbor"

    def use_global_degrees(self, degrees: np.ndarray) -> None:
        """Normalise the full-graph input by ``degrees`` (``[n]``, each node's weighted in-degree
        in the whole graph) instead of the row sums of ``graph`` — for a part of a graph."""
        self._degrees = torch.as_tensor(np.asarray(degrees, dtype=np.float32))
        self._full = None

    def full(self) -> GraphInput:
        """The whole structural graph (used for evaluation and embeddings of full/neighbor)."""
        if self._full is None:
            adj = adj_from_graph(self.graph)
            self._full = GraphInput(adj, None, self.features, degrees=self._degrees)
        return self._full

    def for_epoch(self, epoch: int) -> GraphInput:
        """The input every step of ``epoch`` shares (full and pinsage kinds)."""
        if self.cfg.kind != "pinsage":
            return self.full()
        if self._pinsage_epoch is None or self._pinsage_epoch[0] != epoch:
            self._pinsage_epoch = (epoch, self._importance_input(epoch))
        return self._pinsage_epoch[1]

    def for_eval(self) -> GraphInput:
        """Deterministic input for evaluation: PinSAGE uses its epoch-0 neighbourhoods."""
        return self.for_epoch(0) if self.cfg.kind == "pinsage" else self.full()

    def sample(self, seeds: np.ndarray, epoch: int) -> GraphInput:
        """A fan-out sample around ``seeds`` (int64 global ids); seeds are its first rows."""
        sub = self._sampler.sample(seeds, epoch=epoch)
        nodes = torch.as_tensor(np.asarray(sub.nodes), dtype=torch.long)
        x = None if self.features is None else self.features[nodes]
        return GraphInput(sub.adj_t(), nodes, x, num_targets=int(sub.num_seeds))

    def _importance_input(self, epoch: int) -> GraphInput:
        n = self.graph.num_nodes
        result = self._sampler.sample(np.arange(n, dtype=np.int64), epoch=epoch)
        neighbors = np.asarray(result.neighbors)
        weights = np.asarray(result.weights, dtype=np.float32)
        valid = neighbors >= 0
        counts = valid.sum(axis=1)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        adj = torch.sparse_csr_tensor(
            torch.from_numpy(indptr),
            torch.from_numpy(neighbors[valid].astype(np.int64)),
            torch.from_numpy(weights[valid]),
            size=(n, n),
        )
        return GraphInput(adj, None, self.features)


def _import_sampler(name: str) -> Any:
    try:
        import samplers
    except ImportError as exc:  # the samplers package ships with dsgraph
        raise ConfigError(f"sampler {name} is unavailable: {exc}") from None
    sampler = getattr(samplers, name, None)
    if sampler is None:
        raise ConfigError(f"sampler.kind needs samplers.{name}, which this install does not have")
    return sampler
