"""How a layer-wise model normalises neighbour messages, split so that parts can sum partially.

For every aggregation the value a node ``u`` sends along its out-edges is a *message*
``m_u`` and the aggregate at ``v`` is a function of the plain (weighted) sum of incoming
messages, so sums over disjoint edge sets (mirror shares of a hub) simply add up:

- ``mean``: ``m_u = h_u``; ``agg_v = Σ m_u / deg_in(v)`` (edge count; 0 when isolated)
- ``sum``:  ``m_u = h_u``; ``agg_v = Σ w_uv m_u``
- ``sym``:  ``m_u = h_u / sqrt(d_u)``; ``agg_v = (Σ w_uv m_u) / sqrt(d_v) [+ h_v / d_v]`` where
  ``d = weighted in-degree (+1 with self-loops)`` — PyG's ``gcn_norm`` (GCN with self-loops,
  LightGCN without).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from dsgraph.errors import ConfigError

Aggregation = Literal["mean", "sym", "sum"]


@dataclass(frozen=True)
class AggSpec:
    """Aggregation, self-loops, and whether edge weights enter the sums."""

    aggregation: Aggregation
    self_loops: bool = False
    edge_weighted: bool = False

    @classmethod
    def from_model(cls, model: Any) -> AggSpec:
        """Read the layer-wise contract attributes of ``model`` (see dsgraph/models/base.py)."""
        agg = getattr(model, "aggregation", None)
        if agg not in ("mean", "sym", "sum"):
            raise ConfigError(
                f"model {type(model).__name__} has aggregation={agg!r}; layer-wise inference "
                "needs 'mean', 'sym' or 'sum' (attention models are not decomposable)"
            )
        for attr in ("num_layers", "input_embedding", "layer_update", "combine"):
            if not hasattr(model, attr):
                raise ConfigError(
                    f"model {type(model).__name__} lacks '{attr}' of the layer-wise contract"
                )
        return cls(
            aggregation=agg,
            self_loops=bool(getattr(model, "self_loops", False)),
            edge_weighted=bool(getattr(model, "edge_weighted", False)),
        )

    def edge_values(self, weights: np.ndarray) -> np.ndarray:
        """Per-edge factor inside the message sum (weights or ones), float32."""
        if self.aggregation == "mean" or not self.edge_weighted:
            return np.ones(weights.size, dtype=np.float32)
        return weights.astype(np.float32, copy=False)

    def degree_contribution(self, weights: np.ndarray) -> np.ndarray:
        """What each in-edge adds to the degree used for normalisation (float64)."""
        return self.edge_values(weights).astype(np.float64)

    def scale(self, degree: np.ndarray) -> np.ndarray:
        """Per-node factor from the total in-degree: 1/sqrt(d) (sym), 1/d (mean), 1 (sum).

        Nodes whose normaliser is 0 get factor 0 (PyG masks the infinite inverse the same way).
        """
        d = np.asarray(degree, dtype=np.float64)
        if self.aggregation == "sum":
            return np.ones(d.shape, dtype=np.float32)
        if self.aggregation == "sym":
            d = d + (1.0 if self.self_loops else 0.0)
            with np.errstate(divide="ignore"):
                out = np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
            return out.astype(np.float32)
        with np.errstate(divide="ignore"):
            return np.where(d > 0, 1.0 / np.maximum(d, 1e-300), 0.0).astype(np.float32)

    def message(self, h: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``m = h·scale`` for sym, ``h`` otherwise (scale: [n] float32)."""
        if self.aggregation == "sym":
            return h * scale.unsqueeze(1)
        return h

    def finish(
        self, total: torch.Tensor, h_self: torch.Tensor, scale: torch.Tensor
    ) -> torch.Tensor:
        """The aggregate from the summed messages ``total`` [n, d] of the same nodes."""
        s = scale.unsqueeze(1)
        if self.aggregation == "sum":
            return total
        if self.aggregation == "mean":
            return total * s
        agg = total * s
        if self.self_loops:
            agg = agg + h_self * (s * s)
        return agg


def sparse_csr(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: int | tuple[int, int]
) -> torch.Tensor:
    """A ``torch.sparse_csr`` matrix (row = target) from CSR arrays; ``shape`` n means n × n."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.asarray(indptr, dtype=np.int64)),
            torch.from_numpy(np.asarray(indices, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)),
            size=(shape, shape) if isinstance(shape, int) else shape,
            check_invariants=False,
        )
