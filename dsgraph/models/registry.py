"""Build a model by its config name."""

from __future__ import annotations

from dsgraph.config import ModelConfig
from dsgraph.errors import ConfigError
from dsgraph.models.base import LayerwiseGNN

MODEL_NAMES = ("lightgcn", "gcn", "graphsage", "gat", "pinsage")


def build_model(cfg: ModelConfig, *, num_nodes: int, in_dim: int, out_dim: int) -> LayerwiseGNN:
    """The model ``cfg.name`` for a graph of ``num_nodes`` with ``in_dim`` features (0 = none).

    ``out_dim`` is the number of classes for node classification or the embedding width for
    recommendation (LightGCN's is ``cfg.embedding_dim``).
    """
    from dsgraph.models.gat import GAT
    from dsgraph.models.gcn import GCN
    from dsgraph.models.graphsage import GraphSAGE
    from dsgraph.models.lightgcn import LightGCN
    from dsgraph.models.pinsage import PinSAGE

    common = dict(
        num_nodes=num_nodes,
        in_dim=in_dim,
        hidden_dim=cfg.hidden_dim,
        out_dim=out_dim,
        num_layers=cfg.num_layers,
        dropout=cfg.dropout,
        embedding_dim=cfg.embedding_dim,
    )
    if cfg.name == "lightgcn":
        return LightGCN(num_nodes, cfg.embedding_dim, cfg.num_layers)
    if cfg.name == "gcn":
        return GCN(**common)
    if cfg.name == "graphsage":
        return GraphSAGE(**common)
    if cfg.name == "pinsage":
        return PinSAGE(**common)
    if cfg.name == "gat":
        return GAT(**common, heads=cfg.heads)
    raise ConfigError(f"model.name={cfg.name!r} is unknown; allowed: {', '.join(MODEL_NAMES)}")
