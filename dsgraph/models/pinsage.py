"""PinSAGE-style model (Ying et al., KDD 2018): importance-weighted neighbour pooling.

The neighbourhood of a node is its top-T random-walk visit counts (``samplers.PinSAGESampler``),
weights L1-normalised per row; the input adjacency carries those weights and aggregation is
their weighted sum. A layer is ``lin_l(Σ_u α_vu h_u) + lin_r(h_v)`` (SAGEConv's linear maps, the
"concat then dense" of the paper), ReLU + L2 normalisation between layers.
"""

from __future__ import annotations

from dsgraph.models.graphsage import GraphSAGE


class PinSAGE(GraphSAGE):
    """SAGE layers over an importance-weighted (``sum``) adjacency, normalised hidden layers."""

    aggregation = "sum"
    self_loops = False

    def __init__(
        self,
        num_nodes: int,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        embedding_dim: int = 64,
    ) -> None:
        super().__init__(
            num_nodes, in_dim, hidden_dim, out_dim, num_layers, dropout, embedding_dim, True
        )
