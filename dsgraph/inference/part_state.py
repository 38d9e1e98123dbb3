"""One part's share of layer-wise inference state and the wave protocol that updates it.

A part *owns* (is master of) some nodes and *holds* some edges: every edge ``u → v`` is held by
exactly one part, which sums ``u``'s message into ``v``'s aggregate. A node whose in-edges are
spread over several parts (a hub) is aggregated as partial sums at its mirrors, combined at the
master. A held edge whose source is owned elsewhere needs a *halo* copy of the source's
messages, which the owner sends only to its subscribers (parts holding such an edge).

The single-process engine is the one-part case; :mod:`dsgraph.distributed.partition_actor` wraps
a :class:`PartState` in a Ray actor. A *wave* (full inference, or one batch of events) is
``L + 1`` rounds when no hub is involved:

``begin_full`` | ``apply_events`` (structure, degrees, h^0, layer-0 messages) → for each layer
l: ``layer_step(l)`` [→ ``finish_layer(l)`` where hub partials arrive].

The driver passes ``final=True`` to the wave's last round; that step also returns the wave's
result (ids and final embeddings of the owned nodes it changed, or of every owned node in a
full wave), so no extra round closes the wave. A hub's total degree comes from the driver with
the events (it is the sum over every part's share), so no round is spent collecting partial
degrees either.

Each step returns ``(StepSummary, mail_0, …, mail_{K-1})`` — one :class:`Mail` (or ``None``)
per destination part; the driver delivers them to the next step. Messages are counted as rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dsgraph.inference.aggregation import AggSpec, sparse_csr
from dsgraph.inference.dynamic_graph import DynamicAdjacency


# ------------------------------------------------------------------------------ payload types
@dataclass
class HaloRows:
    """Owner → holder: messages ``m^layer`` of owned nodes (global ids), float32 [n, d]."""

    layer: int
    nodes: np.ndarray
    values: np.ndarray


@dataclass
class PartialRows:
    """Mirror → master: a part's partial message sum for hub targets at ``layer``."""

    layer: int
    part: int
    nodes: np.ndarray
    values: np.ndarray


@dataclass
class Mail:
    """Everything one part sends another in one step."""

    halo: list[HaloRows] = field(default_factory=list)
    partials: list[PartialRows] = field(default_factory=list)

    def rows(self) -> int:
        """Messages in this mail, counted as node rows."""
        return sum(int(h.nodes.size) for h in self.halo) + sum(
            int(p.nodes.size) for p in self.partials
        )


@dataclass
class WaveEnd:
    """A part's share of a wave's result, returned by its final step.

    ``node_ids`` int64 [n] (global) and ``embeddings`` float32 [n, d]: final embeddings of the
    owned nodes the wave changed (every owned node after a full wave); ``recomputed``:
    node-layer recomputations of the wave in this part.
    """

    node_ids: np.ndarray
    embeddings: np.ndarray
    recomputed: int


@dataclass
class StepSummary:
    """What the driver needs to schedule the next step (small; fetched every step).

    ``end`` is set on the wave's final step only.
    """

    part: int
    dests: list[int]
    rows_sent: int
    deferred: bool = False
    active: bool = False
    partial_dests: list[int] = field(default_factory=list)
    ready: bool = True
    end: WaveEnd | None = None


@dataclass
class PartInit:
    """Construction data of a part; global ids everywhere.

    ``owned`` (sorted) are the masters; ``edge_src/edge_dst/edge_weight`` the held edges;
    ``node_ids/node_owner/node_hub`` give owner part and hub flag of every node the part refers
    to (owned and not); ``sub_nodes/sub_parts`` pairs say which parts subscribe to which owned
    node; ``features`` rows align with ``owned`` (None without input features).
    """

    part_id: int
    num_parts: int
    owned: np.ndarray
    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_weight: np.ndarray | None
    node_ids: np.ndarray
    node_owner: np.ndarray
    node_hub: np.ndarray
    sub_nodes: np.ndarray
    sub_parts: np.ndarray
    features: np.ndarray | None
    num_global_nodes: int


# Routed events, as the driver hands them to the part that must apply them.
# ("add_edge", u, v, w, owner_u, owner_v, hub_v) | ("remove_edge", u, v)
# | ("features", node, values) | ("add_node", node, values|None, owner)
# | ("subscribe", node, part)  — sent to the owner of ``node`` when ``part`` starts holding an
#   edge out of it, so that subscriptions are in the owner's own event log too.
# | ("hub_degree", node, total) — sent to a hub's master with the hub's new total in-degree
#   (summed over every part's share) when edges into it changed.
RoutedEvent = tuple

# above this fraction of local nodes to recompute, a layer is aggregated with one sparse product
DENSE_FRACTION = 0.25
# edited adjacency rows tolerated before they are folded into the base CSR (plus n/32)
COMPACT_ROWS = 64


def _with_headroom(rows: int) -> int:
    """Rows to allocate for ``rows`` local nodes: events add halo rows, and growing a large
    table copies all of it, so tables start with room for some."""
    return max(rows + rows // 8 + 64, 1)


def _grow_tensor(t: torch.Tensor, rows: int) -> torch.Tensor:
    if t.shape[0] >= rows:
        return t
    cap = max(rows, 2 * t.shape[0], 16)
    out = torch.zeros((cap, *t.shape[1:]), dtype=t.dtype)
    out[: t.shape[0]] = t
    return out


def _grow_array(a: np.ndarray, rows: int, fill: Any = 0) -> np.ndarray:
    if a.shape[0] >= rows:
        return a
    cap = max(rows, 2 * a.shape[0], 16)
    out = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


class PartState:
    """Structure, features and per-layer embeddings of one part; see the module docstring."""

    def __init__(self, init: PartInit, model: torch.nn.Module) -> None:
        self.part = int(init.part_id)
        self.num_parts = int(init.num_parts)
        self.model = model.eval()
        self.spec = AggSpec.from_model(model)
        self.num_layers = int(model.num_layers)
        self.feature_dim = 0 if init.features is None else int(init.features.shape[1])
        self.last_seq = -1

        # local ids: owned nodes first (in the order of ``owned``), then the others
        owned = np.asarray(init.owned, dtype=np.int64)
        others = np.setdiff1d(np.asarray(init.node_ids, dtype=np.int64), owned)
        l2g = np.concatenate([owned, others])
        self.n = int(l2g.size)
        self.l2g = _grow_array(l2g, self.n)
        self.g2l = np.full(max(init.num_global_nodes, 1), -1, dtype=np.int64)
        self.g2l[l2g] = np.arange(self.n)
        info_local = self.g2l[np.asarray(init.node_ids, dtype=np.int64)]
        self.owner = np.full(self.n, -1, dtype=np.int32)
        self.hub = np.zeros(self.n, dtype=bool)
        self.owner[info_local] = np.asarray(init.node_owner)
        self.hub[info_local] = np.asarray(init.node_hub, dtype=bool)
        self.owner[: owned.size] = self.part
        self.owned = np.zeros(self.n, dtype=bool)
        self.owned[: owned.size] = True

        src_l = self.g2l[np.asarray(init.edge_src, dtype=np.int64)]
        dst_l = self.g2l[np.asarray(init.edge_dst, dtype=np.int64)]
        w = init.edge_weight
        self.in_adj = DynamicAdjacency.from_edges(dst_l, src_l, w, self.n)
        self.out_adj = DynamicAdjacency.from_edges(src_l, dst_l, w, self.n)
        # non-owned sources of held edges: their owners send us their messages
        self.halo_nodes: set[int] = set(np.unique(src_l[~self.owned[src_l]]).tolist())

        self.subscribers: dict[int, set[int]] = {}
        self._subs: tuple[np.ndarray, np.ndarray] | None = None
        self._base_adj: tuple[np.ndarray, torch.Tensor] | None = None
        for g, p in zip(
            np.asarray(init.sub_nodes).tolist(), np.asarray(init.sub_parts).tolist(), strict=True
        ):
            if p != self.part:
                self.subscribers.setdefault(int(self.g2l[g]), set()).add(int(p))

        self.features = (
            None
            if init.features is None
            else _grow_tensor(
                torch.as_tensor(np.asarray(init.features, dtype=np.float32)),
                _with_headroom(self.n),
            )
        )
        self.deg_local = np.zeros(self.n, dtype=np.float64)
        self.hub_degree: dict[int, float] = {}  # owned hubs: total in-degree over all shares
        self.scale = np.zeros(self.n, dtype=np.float32)
        self.h: list[torch.Tensor | None] = [None] * (self.num_layers + 1)
        self.m: list[torch.Tensor | None] = [None] * (self.num_layers + 1)
        self.remote_partials: list[dict[int, dict[int, np.ndarray]]] = [
            {} for _ in range(self.num_layers)
        ]
        self.ready = False
        self.last_recomputed: list[np.ndarray] = []  # global ids per layer, last wave
        self._self_dependence: dict[int, bool] = {}
        self._reset_wave()

    # ------------------------------------------------------------------ local bookkeeping
    def _reset_wave(self) -> None:
        self.full = False
        self.struct_dirty: set[int] = set()  # targets of held edges this batch changed
        self.deg_changed: set[int] = set()
        self.s0: set[int] = set()  # owned nodes with new input features (or new nodes)
        # owned nodes whose h^l changed (l = the layer being aggregated) and h^(l+1)
        self.changed_now = np.empty(0, dtype=np.int64)
        self.changed_next = np.empty(0, dtype=np.int64)
        self.D: np.ndarray = np.empty(0, dtype=np.int64)
        # per layer l: the nodes of D whose message m^l the new scale actually changed
        self.D_msg: list[np.ndarray] = [self.D] * (self.num_layers + 1)
        self.touched = np.zeros(self.n, dtype=bool)
        self.new_subs: list[tuple[int, int]] = []
        self.new_nodes: set[int] = set()  # no previous value to compare with: always "changed"
        self.deferred = np.empty(0, dtype=np.int64)
        self.recomputed = 0
        self.recomputed_ids: list[list[np.ndarray]] = [[] for _ in range(self.num_layers)]
        self._use_full_sums = -1  # layer whose sums _prepare_full_sums computed
        self._halo_changed: dict[int, list[np.ndarray]] = {}
        self._partials_in: set[int] = set()

    def _local(self, g: int, owner: int, hub: bool) -> int:
        """Local id of global node ``g``, allocating a non-owned row when new."""
        if g >= self.g2l.size:
            self.g2l = _grow_array(self.g2l, g + 1, -1)
        lid = int(self.g2l[g])
        if lid >= 0:
            return lid
        lid = self.n
        self.n += 1
        self.g2l[g] = lid
        self.l2g = _grow_array(self.l2g, self.n)
        self.l2g[lid] = g
        self.owner = _grow_array(self.owner, self.n, -1)
        self.owner[lid] = owner
        self.hub = _grow_array(self.hub, self.n, False)
        self.hub[lid] = hub
        self.owned = _grow_array(self.owned, self.n, False)
        self.owned[lid] = owner == self.part
        self.deg_local = _grow_array(self.deg_local, self.n, 0.0)
        self.touched = _grow_array(self.touched, self.n, False)
        self.scale = _grow_array(self.scale, self.n, 0.0)
        if self.features is not None:
            self.features = _grow_tensor(self.features, self.n)
        for layer in range(self.num_layers + 1):
            aliased = self.m[layer] is self.h[layer]
            if self.h[layer] is not None:
                self.h[layer] = _grow_tensor(self.h[layer], self.n)
            if aliased:
                self.m[layer] = self.h[layer]
            elif self.m[layer] is not None:
                self.m[layer] = _grow_tensor(self.m[layer], self.n)
        self.in_adj.add_nodes(self.n - self.in_adj.num_nodes)
        self.out_adj.add_nodes(self.n - self.out_adj.num_nodes)
        return lid

    def _row_degree(self, lv: int) -> float:
        _, w = self.in_adj.row(lv)
        return float(self.spec.degree_contribution(w).sum())

    def _total_scale(self, lids: np.ndarray) -> None:
        """Recompute the normalisation factor of owned ``lids`` (hubs: the driver's total)."""
        deg = self.deg_local[lids].copy()
        for i in np.flatnonzero(self.hub[lids]).tolist():
            total = self.hub_degree.get(int(lids[i]))
            if total is not None:
                deg[i] = total
        self.scale[lids] = self.spec.scale(deg)

    def _set_rows(self, layer: int, lids: np.ndarray, values: torch.Tensor) -> None:
        if self.h[layer] is None:
            self.h[layer] = torch.zeros(
                (_with_headroom(self.n), values.shape[1]), dtype=torch.float32
            )
            self.m[layer] = (
                torch.zeros_like(self.h[layer]) if self.spec.aggregation == "sym" else self.h[layer]
            )
        self.h[layer] = _grow_tensor(self.h[layer], self.n)
        if self.spec.aggregation != "sym":
            self.m[layer] = self.h[layer]
        else:
            self.m[layer] = _grow_tensor(self.m[layer], self.n)
        self.h[layer][torch.from_numpy(lids)] = values

    def _refresh_messages(self, layer: int, lids: np.ndarray) -> None:
        if self.spec.aggregation == "sym" and lids.size and self.h[layer] is not None:
            idx = torch.from_numpy(lids)
            self.m[layer][idx] = self.spec.message(
                self.h[layer][idx], torch.from_numpy(self.scale[lids])
            )

    def _input_embedding(self, lids: np.ndarray) -> torch.Tensor:
        ids = torch.from_numpy(self.l2g[lids].copy())
        x = None if self.features is None else self.features[torch.from_numpy(lids)]
        with torch.no_grad():
            return self.model.input_embedding(ids, x).float()

    # ------------------------------------------------------------------ mail helpers
    def _new_mails(self) -> list[Mail | None]:
        return [None] * self.num_parts

    @staticmethod
    def _mail(mails: list[Mail | None], dest: int) -> Mail:
        if mails[dest] is None:
            mails[dest] = Mail()
        return mails[dest]

    def _subscription_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(local node, part) of every subscription, sorted by node then part."""
        if self._subs is None:
            pairs = [(v, p) for v, ps in self.subscribers.items() for p in ps]
            arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
            self._subs = (arr[:, 0].copy(), arr[:, 1].copy())
        return self._subs

    def _add_subscription(self, lv: int, part: int) -> None:
        """Insert one pair into the sorted arrays (no rebuild from the dict: O(S) memmove)."""
        if self._subs is None:
            return
        nodes, parts = self._subs
        i = int(np.searchsorted(nodes * self.num_parts + parts, lv * self.num_parts + part))
        self._subs = (np.insert(nodes, i, lv), np.insert(parts, i, part))

    def _emit_halo(self, mails: list[Mail | None], layer: int, lids: np.ndarray) -> None:
        """Send ``m^layer`` of owned ``lids`` to each of their subscribers."""
        lids = np.asarray(lids, dtype=np.int64)
        if layer >= self.num_layers or self.m[layer] is None or lids.size == 0:
            return
        sub_node, sub_part = self._subscription_arrays()
        # the subscription rows of ``lids``: ranges of the node-sorted arrays
        lo = np.searchsorted(sub_node, lids, side="left")
        hi = np.searchsorted(sub_node, lids, side="right")
        counts = hi - lo
        at = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        nodes, parts = sub_node[at], sub_part[at]
        for p in np.unique(parts).tolist():
            arr = nodes[parts == p]
            self._mail(mails, int(p)).halo.append(
                HaloRows(layer, self.l2g[arr].copy(), self.m[layer][torch.from_numpy(arr)].numpy())
            )

    def _summary(self, mails: list[Mail | None], final: bool = False, **kw: Any) -> tuple:
        dests = [p for p, m in enumerate(mails) if m is not None and p != self.part]
        rows = sum(mails[p].rows() for p in dests)
        out = [m if p in dests else None for p, m in enumerate(mails)]
        partial_dests = [p for p in dests if mails[p].partials]
        ready = self.ready or self.full
        end = self._end_wave() if final else None
        s = StepSummary(
            self.part, dests, rows, partial_dests=partial_dests, ready=ready, end=end, **kw
        )
        return (s, *out)

    def _ingest(self, inbox: Sequence[Mail | None]) -> None:
        """Store halo rows, partials and degrees, remembering what changed."""
        for mail in inbox:
            if mail is None:
                continue
            for hr in mail.halo:
                lids = self.g2l[hr.nodes]
                self._store_halo(hr.layer, lids, hr.values)
                self._halo_changed.setdefault(hr.layer, []).append(lids)
            for pr in mail.partials:
                store = self.remote_partials[pr.layer]
                for g, row in zip(pr.nodes.tolist(), pr.values, strict=True):
                    lv = int(self.g2l[g])
                    store.setdefault(lv, {})[pr.part] = row
                    self._partials_in.add(lv)

    def _store_halo(self, layer: int, lids: np.ndarray, values: np.ndarray) -> None:
        # a copy: rows from Ray's object store are read-only buffers, which torch warns about
        vals = torch.from_numpy(np.array(values, dtype=np.float32))
        if self.m[layer] is None:
            self.h[layer] = torch.zeros(
                (_with_headroom(self.n), vals.shape[1]), dtype=torch.float32
            )
            self.m[layer] = (
                torch.zeros_like(self.h[layer]) if self.spec.aggregation == "sym" else self.h[layer]
            )
        self.h[layer] = _grow_tensor(self.h[layer], self.n)
        if self.spec.aggregation == "sym":
            self.m[layer] = _grow_tensor(self.m[layer], self.n)
        else:
            self.m[layer] = self.h[layer]
        self.m[layer][torch.from_numpy(lids)] = vals

    # ------------------------------------------------------------------ aggregation
    def _local_sums(self, layer: int, lids: np.ndarray) -> torch.Tensor:
        """Σ over held in-edges of ``lids`` of edge factor · m^layer(source), [n, d]."""
        m = self.m[layer]
        d = m.shape[1]
        if self._use_full_sums == layer:
            return self._full_sums[torch.from_numpy(lids)]
        seg, src, w = self.in_adj.gather(lids)
        if seg.size == 0:
            return torch.zeros((lids.size, d), dtype=torch.float32)
        if seg.size > 1 and (seg[1:] < seg[:-1]).any():  # replaced rows come last
            order = np.argsort(seg, kind="stable")
            seg, src, w = seg[order], src[order], w[order]
        # a [targets × local] sparse product: no [edges × d] temporary, no atomics
        indptr = np.zeros(lids.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(seg, minlength=lids.size), out=indptr[1:])
        rows = sparse_csr(indptr, src, self.spec.edge_values(w), (lids.size, m.shape[0]))
        return rows @ m

    def _prepare_full_sums(self, layer: int) -> None:
        """Message sums of every local row: one sparse product over the frozen base rows,
        then the rows events replaced (and rows added since) gathered one by one."""
        indptr, indices, w, base_n = self.in_adj.base_csr()
        if self._base_adj is None or self._base_adj[0] is not indices:
            adj = sparse_csr(indptr, indices, self.spec.edge_values(w), base_n)
            self._base_adj = (indices, adj)
        adj = self._base_adj[1]
        m = self.m[layer]
        sums = torch.zeros((self.n, m.shape[1]), dtype=torch.float32)
        sums[:base_n] = adj @ m[:base_n]
        self._full_sums = sums
        fix = self.in_adj.replaced_rows()
        self._use_full_sums = -1  # the replaced rows are gathered
        if fix.size:
            sums[torch.from_numpy(fix)] = self._local_sums(layer, fix)
        self._use_full_sums = layer

    def _update_owned(self, layer: int, lids: np.ndarray) -> np.ndarray:
        """Recompute h^{layer+1} of owned ``lids``; return the ids whose value changed."""
        if lids.size == 0:
            return lids
        total = self._local_sums(layer, lids)
        store = self.remote_partials[layer]
        for i in np.flatnonzero(self.hub[lids]).tolist():
            remote = store.get(int(lids[i]))
            if remote:
                for p in sorted(remote):
                    total[i] += torch.from_numpy(remote[p])
        idx = torch.from_numpy(lids)
        h_self = self.h[layer][idx]
        agg = self.spec.finish(total, h_self, torch.from_numpy(self.scale[lids]))
        with torch.no_grad():
            new = self.model.layer_update(layer, agg, h_self).float()
        self.recomputed += int(lids.size)
        self.recomputed_ids[layer].append(self.l2g[lids])
        nxt = self.h[layer + 1]
        if self.full or nxt is None or nxt.shape[1] != new.shape[1]:
            changed = lids
        else:
            old = _grow_tensor(nxt, self.n)[idx]
            differs = (old != new).any(dim=1).numpy()
            if self.new_nodes:
                differs |= np.isin(lids, np.fromiter(self.new_nodes, np.int64))
            changed = lids[differs]
        self._set_rows(layer + 1, lids, new)
        self._refresh_messages(layer + 1, changed)
        return changed

    # ------------------------------------------------------------------ wave steps
    def begin_full(
        self, hub_ids: np.ndarray | None = None, hub_totals: np.ndarray | None = None
    ) -> tuple:
        """Start a full-inference wave: every degree, h^0 and layer-0 message is recomputed.

        ``hub_ids``/``hub_totals``: total in-degree (over every part's share) of the hubs this
        part is master of, from the driver.
        """
        self._reset_wave()
        self.full = True
        indptr, _, w = self.in_adj.to_csr()
        contrib = self.spec.degree_contribution(w)
        counts = np.diff(indptr)
        nonempty = counts > 0
        sums = np.zeros(self.n, dtype=np.float64)
        if contrib.size:
            sums[nonempty] = np.add.reduceat(contrib, indptr[:-1][nonempty])
        self.deg_local[: self.n] = sums
        self.remote_partials = [{} for _ in range(self.num_layers)]
        self._set_hub_degrees(hub_ids, hub_totals)
        mails = self._new_mails()
        self._begin_layers(mails)
        return self._summary(mails, active=True)

    def _set_hub_degrees(self, hub_ids: np.ndarray | None, totals: np.ndarray | None) -> None:
        self.hub_degree = {}
        if hub_ids is None:
            return
        for g, t in zip(np.asarray(hub_ids).tolist(), np.asarray(totals).tolist(), strict=True):
            self.hub_degree[int(self.g2l[g])] = float(t)

    def apply_events(self, seq: int, events: Sequence[RoutedEvent]) -> tuple:
        """Apply this part's share of a batch (sequence number ``seq``) and start the wave:
        new degrees and h^0, and the layer-0 messages that changed, in the same step."""
        self._reset_wave()
        if int(seq) > self.last_seq:  # a replayed (already applied) batch changes nothing
            for ev in events:
                self._apply_one(ev)
            self.last_seq = int(seq)
            self._maybe_compact()
        mails = self._new_mails()
        if self._lost():
            return self._summary(mails)
        self._begin_layers(mails)
        return self._summary(mails, active=bool(self.struct_dirty or self.changed_now.size))

    def _maybe_compact(self) -> None:
        """Fold edited rows into new base CSRs once they are many: edited rows are gathered one
        by one, so without this every event would get slower than the last (amortised O(E))."""
        if self.in_adj.num_overrides + self.out_adj.num_overrides > COMPACT_ROWS + self.n // 32:
            self.in_adj.compact()
            self.out_adj.compact()

    def replay(self, seq: int, events: Sequence[RoutedEvent]) -> None:
        """Re-apply a logged batch to the structure only (restart recovery; no wave)."""
        if int(seq) > self.last_seq:
            for ev in events:
                self._apply_one(ev)
            self.last_seq = int(seq)
        self._reset_wave()

    def _apply_one(self, ev: RoutedEvent) -> None:
        kind = ev[0]
        if kind in ("add_edge", "remove_edge"):
            if kind == "add_edge":
                _, u, v, w, owner_u, owner_v, hub_v = ev
                lu = self._local(u, owner_u, False)
                lv = self._local(v, owner_v, hub_v)
                if not self.owned[lu]:
                    self.halo_nodes.add(lu)
                self.in_adj.add(lv, lu, w)
                self.out_adj.add(lu, lv, w)
            else:
                _, u, v = ev
                lu, lv = int(self.g2l[u]), int(self.g2l[v])
                self.in_adj.remove(lv, lu)
                self.out_adj.remove(lu, lv)
            self.deg_local[lv] = self._row_degree(lv)
            self.struct_dirty.add(lv)
            if self.owned[lv]:
                self.deg_changed.add(lv)
        elif kind == "hub_degree":
            _, node, total = ev
            lv = int(self.g2l[node])
            self.hub_degree[lv] = float(total)
            self.deg_changed.add(lv)
        elif kind == "subscribe":
            _, node, part = ev
            lv = int(self.g2l[node])
            subs = self.subscribers.setdefault(lv, set())
            if part not in subs:
                subs.add(int(part))
                self._add_subscription(lv, int(part))
                self.new_subs.append((lv, int(part)))
        elif kind == "features":
            _, node, values = ev
            lv = int(self.g2l[node])
            self.features[lv] = torch.as_tensor(np.asarray(values, dtype=np.float32))
            self.s0.add(lv)
        elif kind == "add_node":
            _, node, values, owner = ev
            lv = self._local(int(node), int(owner), False)
            if values is not None:
                self.features[lv] = torch.as_tensor(np.asarray(values, dtype=np.float32))
            self.s0.add(lv)
            self.deg_changed.add(lv)
            self.new_nodes.add(lv)
        else:  # the driver routes only the kinds above
            raise ValueError(f"unknown routed event {kind!r}")

    def _begin_layers(self, mails: list[Mail | None]) -> None:
        """New scales and h^0; send layer-0 messages (and every layer's current messages to new
        subscribers)."""
        if self.full:
            D = np.flatnonzero(self.owned[: self.n])
            lids = D
        else:
            D = np.array(sorted(v for v in self.deg_changed if self.owned[v]), dtype=np.int64)
            lids = np.array(sorted(self.s0), dtype=np.int64)
        self._total_scale(D)
        self.D = D if self.spec.aggregation == "sym" or self.full else np.empty(0, np.int64)
        if lids.size:
            self._set_rows(0, lids, self._input_embedding(lids))
        self.touched[lids] = True
        self.D_msg = [self._rescale_messages(layer) for layer in range(self.num_layers + 1)]
        self._refresh_messages(0, lids)
        send = np.union1d(lids, self.D_msg[0])
        # a new subscriber gets every layer's current messages once
        for lv, part in self.new_subs:
            arr = np.array([lv], dtype=np.int64)
            for layer in range(self.num_layers):
                self._mail(mails, part).halo.append(
                    HaloRows(layer, self.l2g[arr].copy(), self.m[layer][arr].numpy().copy())
                )
        self.new_subs = []
        self._emit_halo(mails, 0, send)
        self.changed_now = send

    def _reads_self(self, layer: int) -> bool:
        """Whether h^{layer+1}_v depends on h^layer_v itself (so a changed node recomputes its
        own next layer): always with self-loops; otherwise measured once per layer by running
        ``layer_update`` on one aggregate with two random ``h_self`` (LightGCN: no)."""
        got = self._self_dependence.get(layer)
        if got is None:
            if self.spec.self_loops or self.h[layer] is None:
                return True
            gen = torch.Generator().manual_seed(layer)
            d = self.h[layer].shape[1]
            agg, h1, h2 = (torch.randn((4, d), generator=gen) for _ in range(3))
            with torch.no_grad():
                a = self.model.layer_update(layer, agg, h1)
                b = self.model.layer_update(layer, agg, h2)
            got = self._self_dependence[layer] = not torch.equal(a, b)
        return got

    def _rescale_messages(self, layer: int) -> np.ndarray:
        """Refresh ``m^layer`` of the nodes whose scale changed (D); return those whose message
        changed bit for bit (a zero row stays zero: nothing downstream can change)."""
        if self.full or not self.D.size or self.m[layer] is None:
            self._refresh_messages(layer, self.D)
            return self.D
        idx = torch.from_numpy(self.D)
        old = self.m[layer][idx].clone()
        self._refresh_messages(layer, self.D)
        differs = (old != self.m[layer][idx]).any(dim=1).numpy()
        if self.new_nodes:
            differs |= np.isin(self.D, np.fromiter(self.new_nodes, np.int64))
        return self.D[differs]

    def layer_step(self, layer: int, final: bool, *inbox: Mail | None) -> tuple:
        """Aggregate layer ``layer``: send hub partials to masters, update non-hub owned nodes.

        ``final``: the wave's last round (the summary then carries the :class:`WaveEnd`).
        """
        if self._lost():
            return self._summary(self._new_mails(), final)
        self._ingest(inbox)
        mails = self._new_mails()
        if self.full:
            self._prepare_full_sums(layer)
            targets = np.arange(self.n, dtype=np.int64)
        else:
            halo = self._halo_changed.pop(layer, [])
            src = self._id_set(self.changed_now, self.D_msg[layer], *halo)
            _, nbrs, _ = self.out_adj.gather(src)
            dirty = np.fromiter(self.struct_dirty, np.int64, len(self.struct_dirty))
            own_dep = self.changed_now if self._reads_self(layer) else self.changed_now[:0]
            targets = self._id_set(nbrs, dirty, own_dep, self.D)
            edges = int(self.in_adj.row_lengths(targets).sum())
            if targets.size > DENSE_FRACTION * self.n or edges > DENSE_FRACTION * max(
                self.in_adj.num_edges, 1
            ):
                # most of the part changes: one sparse product beats gathering row by row
                self._prepare_full_sums(layer)
        owned_t = self.owned[targets]
        mirror_t = targets[~owned_t]
        if self.full:
            mirror_t = mirror_t[self.in_adj.row_lengths(mirror_t) > 0]
        self._send_partials(mails, layer, mirror_t)
        own = targets[owned_t]
        self.deferred = own[self.hub[own]]
        changed = self._update_owned(layer, own[~self.hub[own]])
        self.changed_next = changed
        self.touched[changed] = True
        d_msg = self.D_msg[layer + 1]
        non_hub_d = d_msg[~self.hub[d_msg]]
        if not final:
            self._emit_halo(mails, layer + 1, np.union1d(changed, non_hub_d))
        self.changed_now = self.changed_next
        active = bool(self.struct_dirty or self.changed_now.size or self.D.size)
        return self._summary(mails, final, deferred=bool(self.deferred.size), active=active)

    def _send_partials(self, mails: list[Mail | None], layer: int, lids: np.ndarray) -> None:
        if lids.size == 0:
            return
        sums = self._local_sums(layer, lids).numpy()
        per_dest: dict[int, list[int]] = {}
        for i, v in enumerate(lids.tolist()):
            per_dest.setdefault(int(self.owner[v]), []).append(i)
        for p, rows in per_dest.items():
            r = np.array(rows, dtype=np.int64)
            self._mail(mails, p).partials.append(
                PartialRows(layer, self.part, self.l2g[lids[r]].copy(), sums[r].copy())
            )

    def finish_layer(self, layer: int, final: bool, *inbox: Mail | None) -> tuple:
        """Combine hub partials at their masters and update the hubs (``final`` as above)."""
        if self._lost():
            return self._summary(self._new_mails(), final)
        self._ingest(inbox)
        mails = self._new_mails()
        partials = np.fromiter(self._partials_in, np.int64, len(self._partials_in))
        hubs = np.union1d(self.deferred, partials)
        self._partials_in = set()
        changed = self._update_owned(layer, hubs)
        self.changed_next = np.union1d(self.changed_next, changed)
        self.touched[changed] = True
        d_msg = self.D_msg[layer + 1]
        hub_d = d_msg[self.hub[d_msg]]
        if not final:
            self._emit_halo(mails, layer + 1, np.union1d(changed, hub_d))
        self.deferred = np.empty(0, dtype=np.int64)
        self.changed_now = self.changed_next  # finish_layer runs after layer_step
        return self._summary(
            mails, final, active=bool(self.struct_dirty or self.changed_now.size or self.D.size)
        )

    def _id_set(self, *arrays: np.ndarray) -> np.ndarray:
        """Sorted distinct local ids of ``arrays`` (a mark array: O(n + total), no sort)."""
        mark = np.zeros(self.n, dtype=bool)
        for a in arrays:
            mark[a] = True
        return np.flatnonzero(mark)

    def _lost(self) -> bool:
        """True in an incremental wave when this part has no embeddings (it restarted): it
        keeps the structure current and waits for the full wave that recovery runs."""
        return not self.ready and not self.full

    def _end_wave(self) -> WaveEnd:
        """Close the wave: final embeddings of touched owned nodes (all owned after a full
        wave), the wave's recomputations; remember which nodes each layer recomputed."""
        self.last_recomputed = [
            np.concatenate(ids) if ids else np.empty(0, np.int64) for ids in self.recomputed_ids
        ]
        if self._lost():
            self._reset_wave()
            return WaveEnd(np.empty(0, np.int64), np.empty((0, 0), np.float32), 0)
        if self.full:
            lids = np.flatnonzero(self.owned[: self.n])
            self.ready = True
        else:
            lids = np.flatnonzero(self.touched[: self.n] & self.owned[: self.n])
        end = WaveEnd(self.l2g[lids].copy(), self.final_embeddings(lids), self.recomputed)
        self.last_end = end
        self._reset_wave()
        return end

    # ------------------------------------------------------------------ restart recovery
    def resend(self, part: int) -> Mail:
        """Everything a restarted ``part`` needs from this one to rebuild its embeddings alone:
        every layer's messages of the nodes it subscribes to, and every layer's partial sums of
        the hubs it is master of. Read-only here; needs this part's embeddings (``ready``)."""
        mail = Mail()
        nodes = np.array(
            sorted(v for v, ps in self.subscribers.items() if part in ps), dtype=np.int64
        )
        held = np.flatnonzero(
            (self.owner[: self.n] == part) & self.hub[: self.n] & ~self.owned[: self.n]
        )
        held = held[self.in_adj.row_lengths(held) > 0]
        for layer in range(self.num_layers):
            if nodes.size:
                rows = self.m[layer][torch.from_numpy(nodes)].numpy().copy()
                mail.halo.append(HaloRows(layer, self.l2g[nodes].copy(), rows))
            if held.size:
                sums = self._local_sums(layer, held).numpy().copy()
                mail.partials.append(PartialRows(layer, self.part, self.l2g[held].copy(), sums))
        return mail

    def rebuild(self, hub_ids: np.ndarray, hub_totals: np.ndarray, *inbox: Mail | None) -> WaveEnd:
        """Recompute every layer of this part alone from ``resend`` mails of every other part
        (after a restart, when the others' state is current): no wave, no messages out."""
        self.begin_full(hub_ids, hub_totals)
        self._ingest(inbox)
        self._halo_changed = {}
        for layer in range(self.num_layers):
            self.layer_step(layer, False)
            self.finish_layer(layer, layer == self.num_layers - 1)
        return self.last_end

    def final_embeddings(self, lids: np.ndarray | None = None) -> np.ndarray:
        """``combine([h^0..h^L])`` of owned ``lids`` (all owned when None), float32 numpy."""
        if lids is None:
            lids = np.flatnonzero(self.owned[: self.n])
        idx = torch.from_numpy(np.asarray(lids, dtype=np.int64))
        with torch.no_grad():
            out = self.model.combine([h[idx] for h in self.h])
        return out.float().numpy()

    def to_init(self) -> PartInit:
        """The current structure and features as a :class:`PartInit` (for snapshots)."""
        n = self.n
        indptr, src_l, w = self.in_adj.to_csr()
        dst_l = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        owned_l = np.flatnonzero(self.owned[:n])
        pairs = sorted((int(self.l2g[v]), p) for v, ps in self.subscribers.items() for p in ps)
        sub = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        feats = None
        if self.features is not None:
            feats = self.features[torch.from_numpy(owned_l)].numpy().copy()
        return PartInit(
            part_id=self.part,
            num_parts=self.num_parts,
            owned=self.l2g[owned_l].copy(),
            edge_src=self.l2g[src_l].copy(),
            edge_dst=self.l2g[dst_l].copy(),
            edge_weight=np.asarray(w, dtype=np.float32).copy(),
            node_ids=self.l2g[:n].copy(),
            node_owner=self.owner[:n].copy(),
            node_hub=self.hub[:n].copy(),
            sub_nodes=sub[:, 0].copy(),
            sub_parts=sub[:, 1].astype(np.int32),
            features=feats,
            num_global_nodes=int(self.g2l.size),
        )

    def owned_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(global ids, final embeddings) of every owned node."""
        return self.owned_ids(), self.final_embeddings()

    def owned_ids(self) -> np.ndarray:
        """Global ids of owned nodes, in local order."""
        return self.l2g[np.flatnonzero(self.owned[: self.n])].copy()
