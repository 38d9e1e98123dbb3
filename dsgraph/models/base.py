"""The layer-wise GNN contract shared by training and (incremental) inference.

A :class:`LayerwiseGNN` computes ``h^{l+1}_v = layer_update(l, agg_v, h^l_v)`` where ``agg_v`` is
a fixed, normalised aggregation of the in-neighbours' ``h^l`` (``aggregation`` says which), so any
subset of nodes can be recomputed exactly from its neighbours' previous-layer states. ``forward``
is exactly that loop over a :class:`GraphInput`; aggregation always goes through
``dsgraph.train.precision.sparse_aggregate`` (fp32 under autocast).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from dsgraph.train.precision import sparse_aggregate

Aggregation = Literal["mean", "sym", "sum"]

# torch warns on every CSR construction that sparse CSR is "beta"; dsgraph relies on it knowingly.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def normalized_adj(
    adj_t: Tensor,
    aggregation: Aggregation,
    self_loops: bool = False,
    degrees: Tensor | None = None,
) -> Tensor:
    """Return ``adj_t`` (sparse CSR, row = target) with values that implement ``aggregation``.

    ``mean``: 1/deg_in(v) per entry (weights ignored); ``sym``: w/sqrt(d(u)·d(v)) with d the
    weighted in-degree (row sum), self-loops added first when ``self_loops``; ``sum``: the stored
    weights (ones when unweighted). Result: float32 sparse CSR of the same shape.
    ``degrees`` (``[n]``, square ``adj_t`` only) replaces the row sums behind ``sym`` — each
    node's in-degree in a whole graph of which ``adj_t`` is a part (+1 with ``self_loops``).
    """
    adj_t = adj_t.to_sparse_csr() if adj_t.layout != torch.sparse_csr else adj_t
    n_rows, n_cols = adj_t.shape
    crow = adj_t.crow_indices()
    col = adj_t.col_indices()
    values = adj_t.values().to(torch.float32)
    if (self_loops or degrees is not None) and n_rows != n_cols:
        raise ValueError("self-loops and given degrees need a square adjacency")
    if self_loops:
        adj_t = _add_self_loops(crow, col, values, n_rows)
        crow, col, values = adj_t.crow_indices(), adj_t.col_indices(), adj_t.values()
    counts = crow[1:] - crow[:-1]
    row = torch.repeat_interleave(torch.arange(n_rows), counts)
    if aggregation == "mean":
        new = 1.0 / counts.clamp(min=1).to(torch.float32)[row]
    elif aggregation == "sym":
        if degrees is None:
            deg = torch.zeros(n_rows, dtype=torch.float32).index_add_(0, row, values)
        else:
            deg = degrees.to(torch.float32) + float(self_loops)
        inv = deg.pow(-0.5)
        inv[~torch.isfinite(inv)] = 0.0
        col_inv = inv[col] if n_rows == n_cols else _col_inv_sqrt(col, values, n_cols)
        new = values * inv[row] * col_inv
    elif aggregation == "sum":
        new = values
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return torch.sparse_csr_tensor(crow, col, new.contiguous(), size=(n_rows, n_cols))


def _col_inv_sqrt(col: Tensor, values: Tensor, n_cols: int) -> Tensor:
    deg = torch.zeros(n_cols, dtype=torch.float32).index_add_(0, col, values)
    inv = deg.pow(-0.5)
    inv[~torch.isfinite(inv)] = 0.0
    return inv[col]


def _add_self_loops(crow: Tensor, col: Tensor, values: Tensor, n: int) -> Tensor:
    counts = crow[1:] - crow[:-1]
    row = torch.repeat_interleave(torch.arange(n), counts)
    keep = row != col  # an existing self-loop is replaced by one of weight 1 (as GCNConv does)
    rows = torch.cat([row[keep], torch.arange(n)])
    cols = torch.cat([col[keep], torch.arange(n)])
    vals = torch.cat([values[keep], torch.ones(n, dtype=values.dtype)])
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce()
    return coo.to_sparse_csr()


class _Aggregate(torch.autograd.Function):
    """``adj @ x`` whose backward multiplies by a prepared transpose.

    Autograd's own backward of a CSR product rebuilds the transpose on every call (about 10× the
    forward here); the transpose of a graph's normalised adjacency is fixed, so it is built once
    and cached by :class:`GraphInput`. Both products go through ``sparse_aggregate`` (fp32).
    """

    @staticmethod
    def forward(ctx, adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
        ctx.adj_t = adj_t
        ctx.x_dtype = x.dtype
        return sparse_aggregate(adj, x, "sum")

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor | None]:
        if not ctx.needs_input_grad[2]:
            return None, None, None
        return None, None, sparse_aggregate(ctx.adj_t, grad, "sum").to(ctx.x_dtype)


def aggregate(adj: Tensor, x: Tensor, adj_t: Tensor | None = None) -> Tensor:
    """fp32 ``adj @ x`` (sparse CSR times dense); ``adj_t`` (its transpose) speeds up backward."""
    if adj_t is None or not (x.requires_grad and torch.is_grad_enabled()):
        return sparse_aggregate(adj, x, "sum")
    return _Aggregate.apply(adj, adj_t, x)


def transpose_csr(adj: Tensor) -> Tensor:
    """The transpose of a sparse CSR matrix, again as sparse CSR."""
    return adj.t().to_sparse_csr()


@dataclass
class GraphInput:
    """What a model sees in one forward pass.

    ``adj_t``: sparse CSR [n, n], row = target, values = edge weights; ``node_ids``: int64 [n]
    global ids of the rows (None = all nodes 0..n-1 in order); ``x``: float32 [n, F] features or
    None for featureless nodes (learnable embeddings are used). The first ``num_targets`` rows
    are the nodes whose outputs the loss uses (all rows when None). Normalised adjacencies are
    cached per (aggregation, self-loops), so a full-graph input is normalised once per run.
    ``degrees`` (float32 [n]): each node's in-degree in the whole graph, for ``sym`` on a part
    whose outer rows are truncated (see :func:`normalized_adj`); None = ``adj_t``'s row sums.
    """

    adj_t: Tensor
    node_ids: Tensor | None = None
    x: Tensor | None = None
    num_targets: int | None = None
    degrees: Tensor | None = None
    _norm_cache: dict[tuple[str, bool], Tensor] = field(default_factory=dict, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(self.adj_t.shape[0])

    def normalized(self, aggregation: Aggregation, self_loops: bool) -> Tensor:
        key = (aggregation, self_loops)
        if key not in self._norm_cache:
            self._norm_cache[key] = normalized_adj(
                self.adj_t, aggregation, self_loops, self.degrees
            )
        return self._norm_cache[key]

    def transposed(self, aggregation: Aggregation, self_loops: bool) -> Tensor:
        """Transpose of :meth:`normalized` (cached; used by the backward pass)."""
        key = (f"{aggregation}-t", self_loops)
        if key not in self._norm_cache:
            self._norm_cache[key] = transpose_csr(self.normalized(aggregation, self_loops))
        return self._norm_cache[key]

    def edge_index(self) -> Tensor:
        """[2, E] int64 (source, target) built from ``adj_t`` (for layers without CSR support)."""
        if ("edge_index", False) not in self._norm_cache:
            crow, col = self.adj_t.crow_indices(), self.adj_t.col_indices()
            row = torch.repeat_interleave(torch.arange(self.num_nodes), crow[1:] - crow[:-1])
            self._norm_cache[("edge_index", False)] = torch.stack([col, row])
        return self._norm_cache[("edge_index", False)]


class LayerwiseGNN(torch.nn.Module):
    """Base of every layer-wise model; subclasses define the three dense pieces.

    Attributes: ``num_layers``; ``aggregation`` (mean | sym | sum, see :func:`normalized_adj`);
    ``self_loops`` (GCN adds them before normalising); ``out_dim``; ``embedding`` (an
    ``nn.Embedding`` over all nodes when the graph has no features, else None).
    """

    num_layers: int
    aggregation: Aggregation
    self_loops: bool = False
    layerwise: bool = True

    def __init__(self, num_nodes: int, in_dim: int, embedding_dim: int, dropout: float) -> None:
        super().__init__()
        self.embedding: torch.nn.Embedding | None = None
        if in_dim <= 0:
            self.embedding = torch.nn.Embedding(num_nodes, embedding_dim)
            self._init_embedding(self.embedding)
            in_dim = embedding_dim
        self.in_dim = in_dim
        self.dropout = float(dropout)

    @staticmethod
    def _init_embedding(embedding: torch.nn.Embedding) -> None:
        torch.nn.init.xavier_uniform_(embedding.weight)

    # ------------------------------------------------------------------ the contract
    def input_embedding(self, node_ids: Tensor | None, x: Tensor | None) -> Tensor:
        """h^0 rows: the features when given, else the learnable embedding of ``node_ids``."""
        if x is not None:
            return x
        if self.embedding is None:
            raise ValueError(f"{type(self).__name__} was built for node features; pass x")
        return self.embedding.weight if node_ids is None else self.embedding(node_ids)

    def layer_update(self, layer: int, agg: Tensor, h_self: Tensor) -> Tensor:
        """h^{layer+1} from the normalised aggregation and the node's own h^{layer}."""
        raise NotImplementedError

    def combine(self, hs: list[Tensor]) -> Tensor:
        """Final embedding from [h^0 .. h^L]: the last layer by default."""
        return hs[-1]

    # ------------------------------------------------------------------ forward
    def forward(self, graph: GraphInput) -> Tensor:
        """Output rows for every node of ``graph`` ([n, out_dim])."""
        adj = graph.normalized(self.aggregation, self.self_loops)
        self._adj_t = graph.transposed(self.aggregation, self.self_loops)
        h = self.input_embedding(graph.node_ids, graph.x)
        hs = [h]
        try:
            for layer in range(self.num_layers):
                if self.dropout > 0 and self.training:
                    h = torch.nn.functional.dropout(h, p=self.dropout, training=True)
                h = self.layer_forward(layer, adj, h)
                hs.append(h)
        finally:
            self._adj_t = None
        return self.combine(hs)

    def aggregate(self, adj: Tensor, h: Tensor) -> Tensor:
        """fp32 normalised aggregation of ``h`` inside :meth:`forward` (fast backward)."""
        return aggregate(adj, h, getattr(self, "_adj_t", None))

    def layer_forward(self, layer: int, adj: Tensor, h: Tensor) -> Tensor:
        """One layer over the normalised ``adj``: aggregate, then :meth:`layer_update`.

        Subclasses may move a linear map in front of the aggregation when that is cheaper
        (aggregating narrow rows); the result equals this definition by linearity.
        """
        return self.layer_update(layer, self.aggregate(adj, h), h)

    def embedding_parameter_names(self) -> list[str]:
        """Names of row-sparse embedding tables (pushed as rows, not Top-K, by workers)."""
        return ["embedding.weight"] if self.embedding is not None else []
