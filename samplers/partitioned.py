"""Random walks over a partitioned graph: walkers hop between parts, hubs keep their true law.

The parts (``partitioning.LocalPartition``) are laid side by side as one CSR over *slots*
(slot = part offset + local id). A walker always sits at a *resident* slot: an owned node, or
one copy (master or mirror) of a split hub. Stepping draws an edge of the resident row; its
target is then resolved: an owned non-hub target stays, a halo target moves the walker to the
owner part, and a hub target picks one of the hub's copies with probability ∝ that copy's share
(edge count, or weight sum for weighted walks). Choosing the copy by share, then an edge of that
copy's row by weight, gives exactly w(h, v) / Σ w(h, ·): the unsplit graph's transition law.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numba import njit, prange

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph
from samplers._checks import check_nonneg_int
from samplers._rng import key_for, next_word, stream_start, unit
from samplers.kernels_walks import pick_edge
from samplers.tables import build_tables

_STAY, _MOVE, _HUB = 0, 1, 2


@njit(cache=True, nogil=True, inline="always")
def _resolve(slot, state, action, target, copy_ptr, copy_cdf, copy_slot):
    """Resident slot for a (possibly halo or hub) slot; draws a hub copy when needed."""
    a = action[slot]
    if a == _STAY:
        return slot, state
    if a == _MOVE:
        return target[slot], state
    h = target[slot]
    lo = copy_ptr[h]
    hi = copy_ptr[h + 1]
    state, word = next_word(state)
    r = unit(word) * copy_cdf[hi - 1]
    c = lo
    while c < hi - 1 and copy_cdf[c] <= r:
        c += 1
    return copy_slot[c], state


@njit(cache=True, nogil=True, parallel=True)
def partitioned_walks(
    indptr,
    indices,
    live,
    prob,
    alias,
    cdf,
    kind,
    slot_global,
    action,
    target,
    copy_ptr,
    copy_cdf,
    copy_slot,
    start_slots,
    walk_length,
    key,
    out_nodes,
    out_parts,
    slot_part,
):
    """Walk i starts at ``start_slots[i]`` (resolved first) and records global ids and parts.

    Stream i drives walk i, so output does not depend on the thread count. A dead end stops
    the walk (−1 afterwards).
    """
    for i in prange(start_slots.size):
        s = stream_start(key, i)
        cur, s = _resolve(start_slots[i], s, action, target, copy_ptr, copy_cdf, copy_slot)
        out_nodes[i, 0] = slot_global[cur]
        out_parts[i, 0] = slot_part[cur]
        for step in range(1, walk_length + 1):
            if cur < 0 or live[cur] == 0:
                cur = -1
                out_nodes[i, step] = -1
                out_parts[i, step] = -1
                continue
            s, word = next_word(s)
            e = pick_edge(cur, word, indptr, prob, alias, cdf, kind)
            cur, s = _resolve(indices[e], s, action, target, copy_ptr, copy_cdf, copy_slot)
            out_nodes[i, step] = slot_global[cur]
            out_parts[i, step] = slot_part[cur]


class PartitionedWalkSampler:
    """First-order walks (uniform or ∝ edge weight) across the parts of a partitioned graph.

    ``parts`` are all ``LocalPartition`` objects of one partitioning (``load_partition`` for
    each part id) and ``owner`` the global owner array (``PartitionResult.owner`` or
    ``PartitionBook.owner_array``). ``walk(starts)`` returns (global ids int64 [n, L + 1],
    part ids int32 [n, L + 1]), −1 after a dead end. Same (seed, epoch, starts) → same walks
    for any thread count.
    """

    def __init__(
        self,
        parts: Sequence,
        owner: np.ndarray,
        walk_length: int,
        *,
        mode: Literal["uniform", "weighted"] = "uniform",
        seed: int = 0,
    ) -> None:
        check_nonneg_int(walk_length, "walk_length")
        check_nonneg_int(seed, "seed")
        if mode not in ("uniform", "weighted"):
            raise SamplerError(f"mode must be 'uniform' or 'weighted', got {mode!r}")
        parts = sorted(parts, key=lambda p: p.part_id)
        if not parts or [p.part_id for p in parts] != list(range(parts[0].num_parts)):
            raise SamplerError("parts must hold every part id 0 … k−1 of one partitioning")
        if mode == "weighted" and any(p.graph.weights is None for p in parts):
            raise SamplerError("mode='weighted' needs parts with edge weights")
        self.walk_length = int(walk_length)
        self.mode = mode
        self.seed = int(seed)
        self.owner = np.asarray(owner, dtype=np.int64)
        self._build(parts)

    def _build(self, parts: Sequence) -> None:
        from partitioning.local import HALO

        hubs = parts[0].hubs
        sizes = np.array([p.num_local for p in parts], dtype=np.int64)
        offset = np.concatenate([[0], np.cumsum(sizes)])
        num_slots = int(offset[-1])
        slot_global = np.concatenate([p.local_to_global for p in parts]).astype(np.int64)
        slot_part = np.repeat(np.arange(len(parts), dtype=np.int32), sizes)
        slot_kind = np.concatenate([p.kind for p in parts])
        # One CSR over slots; a part's local targets shift by its offset.
        indptr = np.zeros(num_slots + 1, dtype=np.int64)
        np.cumsum(np.concatenate([p.graph.degrees() for p in parts]), out=indptr[1:])
        indices = np.concatenate(
            [p.graph.indices.astype(np.int64) + offset[i] for i, p in enumerate(parts)]
        )
        weights = None
        if self.mode == "weighted":
            weights = np.concatenate([p.graph.weights for p in parts]).astype(np.float32)
        graph = CSRGraph(indptr, indices, weights)
        # Canonical (owner) slot of every global node that is not a hub.
        canonical = np.full(self.owner.size, -1, dtype=np.int64)
        resident = slot_kind != HALO
        canonical[slot_global[resident]] = np.flatnonzero(resident)
        # Hub copies: slot of copy c = part copy_part[c], local id of the hub there.
        hub_of_copy = hubs.copy_hub()
        copy_slot = np.empty(hub_of_copy.size, dtype=np.int64)
        for i, p in enumerate(parts):
            rows = np.flatnonzero(hubs.copy_part == i)
            copy_slot[rows] = p.global_to_local(hub_of_copy[rows]) + offset[i]
        share = hubs.copy_weight if self.mode == "weighted" else hubs.copy_edges
        copy_cdf = np.zeros(share.size, dtype=np.float64)
        for h in range(hubs.num_hubs):
            lo, hi = hubs.copy_ptr[h], hubs.copy_ptr[h + 1]
            copy_cdf[lo:hi] = np.cumsum(share[lo:hi].astype(np.float64))
        hub_index = np.full(self.owner.size, -1, dtype=np.int64)
        hub_index[hubs.hub_ids] = np.arange(hubs.num_hubs)
        is_hub = hub_index[slot_global] >= 0
        action = np.where(is_hub, _HUB, np.where(resident, _STAY, _MOVE)).astype(np.int8)
        target = np.where(is_hub, hub_index[slot_global], canonical[slot_global])
        self._hub_index = hub_index
        self._canonical = canonical
        self._copy_slot = copy_slot
        self.graph = graph
        self.tables = build_tables(graph, edge_weights=weights, table="cdf")
        self._arrays = (
            slot_global,
            action,
            target.astype(np.int64),
            hubs.copy_ptr.astype(np.int64),
            copy_cdf,
            copy_slot,
        )
        self._slot_part = slot_part

    def _start_slots(self, starts: np.ndarray) -> np.ndarray:
        slots = self._canonical[starts].copy()
        hub_rows = self._hub_index[starts]
        is_hub = hub_rows >= 0
        # Any copy of a hub will do: its action is HUB, so the kernel draws the copy by share.
        copy_ptr = self._arrays[3]
        slots[is_hub] = self._copy_slot[copy_ptr[hub_rows[is_hub]]]
        return slots

    def walk(self, starts: np.ndarray, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(global node ids int64, part ids int32), both [n, walk_length + 1]."""
        check_nonneg_int(epoch, "epoch")
        starts = np.asarray(starts, dtype=np.int64)
        if starts.size and (starts.min() < 0 or starts.max() >= self.owner.size):
            raise SamplerError(f"starts must be node ids in [0, {self.owner.size})")
        slot_global, action, target, copy_ptr, copy_cdf, copy_slot = self._arrays
        nodes = np.empty((starts.size, self.walk_length + 1), dtype=np.int64)
        parts = np.empty((starts.size, self.walk_length + 1), dtype=np.int32)
        t = self.tables
        partitioned_walks(
            self.graph.indptr,
            self.graph.indices,
            t.live,
            t.prob,
            t.alias,
            t.cdf,
            t.kind,
            slot_global,
            action,
            target,
            copy_ptr,
            copy_cdf,
            copy_slot,
            self._start_slots(starts),
            self.walk_length,
            key_for(self.seed, epoch),
            nodes,
            parts,
            self._slot_part,
        )
        return nodes, parts
