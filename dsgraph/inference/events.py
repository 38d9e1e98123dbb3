"""Typed graph events, their validation, and Parquet event files.

An event changes the graph or its inputs: :class:`AddEdge`, :class:`RemoveEdge`,
:class:`UpdateFeatures`, :class:`AddNode`. A batch is validated in order against the state it
will meet (earlier events of the same batch included), so "add u→v, then remove u→v" is valid.

Rejection policy (see docs/incremental.md): by default an invalid event is *skipped* and reported
with its reason while the rest of the batch is applied; with ``atomic=True`` one invalid event
refuses the whole batch (:class:`EventError`, nothing applied).

Event file (Parquet), one row per event, in order: ``kind`` string (add_edge, remove_edge,
update_features, add_node), ``src`` / ``dst`` int64 (edges), ``node`` int64 (node events),
``weight`` float32 (add_edge, null = 1.0), ``feat`` list<float32> (update_features / add_node),
``node_type`` int8 (add_node, null = none).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsgraph.errors import EventError
from dsgraph.storage.atomic import atomic_file


@dataclass(frozen=True)
class AddEdge:
    """Insert the edge ``src → dst`` (both directions when the engine's graph is undirected)."""

    src: int
    dst: int
    weight: float = 1.0


@dataclass(frozen=True)
class RemoveEdge:
    """Delete the edge ``src → dst`` (both directions when the graph is undirected)."""

    src: int
    dst: int


@dataclass(frozen=True)
class UpdateFeatures:
    """Replace the input feature row of ``node`` with ``values`` (length = feature width)."""

    node: int
    values: tuple[float, ...]

    def __init__(self, node: int, values: Sequence[float] | np.ndarray) -> None:
        object.__setattr__(self, "node", int(node))
        object.__setattr__(self, "values", tuple(float(x) for x in np.asarray(values).ravel()))


@dataclass(frozen=True)
class AddNode:
    """Append a node; its id is the current node count (``node`` may state it to be checked).

    ``features`` is required (and only allowed) when the engine has input features.
    """

    node: int | None = None
    features: tuple[float, ...] | None = None
    node_type: int | None = None

    def __init__(
        self,
        node: int | None = None,
        features: Sequence[float] | np.ndarray | None = None,
        node_type: int | None = None,
    ) -> None:
        object.__setattr__(self, "node", None if node is None else int(node))
        feats = None if features is None else tuple(float(x) for x in np.asarray(features).ravel())
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "node_type", None if node_type is None else int(node_type))


Event = AddEdge | RemoveEdge | UpdateFeatures | AddNode
EVENT_KINDS: dict[type, str] = {
    AddEdge: "add_edge",
    RemoveEdge: "remove_edge",
    UpdateFeatures: "update_features",
    AddNode: "add_node",
}


@dataclass(frozen=True)
class RejectedEvent:
    """An event that was not applied: its position in the batch, the event, and why."""

    index: int
    event: Event
    reason: str


@dataclass
class ValidatedBatch:
    """The events of a batch that will be applied (with their batch positions) and the rejects."""

    accepted: list[tuple[int, Event]] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)


def validate_events(
    events: Sequence[Event],
    *,
    num_nodes: int,
    feature_dim: int,
    has_edge: Callable[[int, int], bool],
    undirected: bool,
    can_embed_new_node: bool = True,
    atomic: bool = False,
) -> ValidatedBatch:
    """Check ``events`` in order against the graph they will meet.

    ``has_edge(u, v)`` answers for the graph *before* the batch; edges added or removed by
    earlier events of the batch are tracked here. ``feature_dim`` is 0 when the engine has no
    input features. With ``atomic`` any reject raises :class:`EventError` listing all reasons.
    """
    added: set[tuple[int, int]] = set()
    removed: set[tuple[int, int]] = set()
    n = num_nodes
    out = ValidatedBatch()

    def exists(u: int, v: int) -> bool:
        if (u, v) in added:
            return True
        if (u, v) in removed:
            return False
        return u < num_nodes and v < num_nodes and has_edge(u, v)

    def check_node(x: object, what: str) -> str | None:
        if not isinstance(x, int | np.integer) or isinstance(x, bool):
            return f"{what} must be an integer node id, got {x!r}"
        if not 0 <= int(x) < n:
            return f"unknown node {what}={int(x)} (the graph has nodes 0..{n - 1})"
        return None

    def check_feats(values: tuple[float, ...] | None, what: str) -> str | None:
        if feature_dim == 0:
            if values is not None and len(values) > 0:
                return f"{what}: this model has no input features, got {len(values)} values"
            return None
        if values is None or len(values) != feature_dim:
            got = 0 if values is None else len(values)
            return f"{what}: wrong feature width {got}, expected {feature_dim}"
        if not all(math.isfinite(x) for x in values):
            return f"{what}: features must be finite"
        return None

    for i, ev in enumerate(events):
        reason: str | None = None
        if isinstance(ev, AddEdge | RemoveEdge):
            reason = check_node(ev.src, "src") or check_node(ev.dst, "dst")
            if reason is None:
                u, v = int(ev.src), int(ev.dst)
                if u == v:
                    reason = f"self-loop {u}→{v} is not allowed"
                elif isinstance(ev, AddEdge):
                    w = float(ev.weight)
                    if not math.isfinite(w) or w <= 0:
                        reason = f"edge weight must be finite and > 0, got {ev.weight}"
                    elif exists(u, v):
                        reason = f"edge {u}→{v} already exists"
                elif not exists(u, v):
                    reason = f"edge {u}→{v} does not exist (duplicate or unknown removal)"
            if reason is None:
                pairs = [(u, v), (v, u)] if undirected else [(u, v)]
                for p in pairs:
                    if isinstance(ev, AddEdge):
                        removed.discard(p)
                        added.add(p)
                    else:
                        added.discard(p)
                        removed.add(p)
        elif isinstance(ev, UpdateFeatures):
            reason = check_node(ev.node, "node")
            if reason is None and feature_dim == 0:
                reason = "update_features: this model has no input features"
            reason = reason or check_feats(ev.values, f"node {ev.node}")
        elif isinstance(ev, AddNode):
            if ev.node is not None and ev.node != n:
                reason = f"add_node: new node id must be {n} (the next id), got {ev.node}"
            elif not can_embed_new_node:
                reason = "add_node: the model embeds nodes by id and has no row for a new node"
            else:
                reason = check_feats(ev.features, "add_node")
            if reason is None:
                n += 1
        else:
            reason = f"unknown event type {type(ev).__name__}"
        if reason is None:
            out.accepted.append((i, ev))
        else:
            out.rejected.append(RejectedEvent(i, ev, reason))
    if atomic and out.rejected:
        lines = "; ".join(f"event {r.index}: {r.reason}" for r in out.rejected)
        raise EventError(f"batch refused ({len(out.rejected)} invalid event(s)): {lines}")
    return out


# ---------------------------------------------------------------------------------- Parquet IO
def write_events(path: str | os.PathLike[str], events: Sequence[Event]) -> Path:
    """Write ``events`` to a Parquet event file (atomically), in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list] = {k: [] for k in ("kind", "src", "dst", "node", "weight", "feat")}
    cols["node_type"] = []
    for ev in events:
        if type(ev) not in EVENT_KINDS:
            raise EventError(f"cannot write unknown event type {type(ev).__name__}")
        cols["kind"].append(EVENT_KINDS[type(ev)])
        edge = isinstance(ev, AddEdge | RemoveEdge)
        cols["src"].append(int(ev.src) if edge else None)
        cols["dst"].append(int(ev.dst) if edge else None)
        cols["node"].append(None if edge else ev.node)
        cols["weight"].append(float(ev.weight) if isinstance(ev, AddEdge) else None)
        if isinstance(ev, UpdateFeatures):
            cols["feat"].append(list(ev.values))
        elif isinstance(ev, AddNode):
            cols["feat"].append(None if ev.features is None else list(ev.features))
        else:
            cols["feat"].append(None)
        cols["node_type"].append(ev.node_type if isinstance(ev, AddNode) else None)
    table = pa.table(
        {
            "kind": pa.array(cols["kind"], pa.string()),
            "src": pa.array(cols["src"], pa.int64()),
            "dst": pa.array(cols["dst"], pa.int64()),
            "node": pa.array(cols["node"], pa.int64()),
            "weight": pa.array(cols["weight"], pa.float32()),
            "feat": pa.array(cols["feat"], pa.list_(pa.float32())),
            "node_type": pa.array(cols["node_type"], pa.int8()),
        }
    )
    path = Path(path)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_events(path: str | os.PathLike[str]) -> list[Event]:
    """Read a Parquet event file; a malformed row raises :class:`EventError` naming it."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise EventError(f"event file {path} does not exist")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise EventError(f"{path}: not a readable Parquet file ({exc})") from exc
    if "kind" not in table.column_names:
        raise EventError(f"{path}: missing column 'kind' (columns: {table.column_names})")
    rows = table.to_pylist()
    events: list[Event] = []
    for i, row in enumerate(rows):
        kind = row.get("kind")

        def need(col: str, i: int = i, row: dict = row, kind: object = kind) -> object:
            if row.get(col) is None:
                raise EventError(f"{path} row {i}: '{kind}' needs column '{col}'")
            return row[col]

        if kind == "add_edge":
            w = row.get("weight")
            events.append(AddEdge(int(need("src")), int(need("dst")), 1.0 if w is None else w))
        elif kind == "remove_edge":
            events.append(RemoveEdge(int(need("src")), int(need("dst"))))
        elif kind == "update_features":
            events.append(UpdateFeatures(int(need("node")), need("feat")))
        elif kind == "add_node":
            events.append(AddNode(row.get("node"), row.get("feat"), row.get("node_type")))
        else:
            raise EventError(
                f"{path} row {i}: unknown kind {kind!r} "
                f"(allowed: {', '.join(EVENT_KINDS.values())})"
            )
    return events


def event_to_dict(ev: Event) -> dict:
    """A JSON-ready dict of ``ev`` (used by the event log and the HTTP service)."""
    d: dict = {"kind": EVENT_KINDS[type(ev)]}
    if isinstance(ev, AddEdge):
        d.update(src=ev.src, dst=ev.dst, weight=ev.weight)
    elif isinstance(ev, RemoveEdge):
        d.update(src=ev.src, dst=ev.dst)
    elif isinstance(ev, UpdateFeatures):
        d.update(node=ev.node, feat=list(ev.values))
    else:
        d.update(node=ev.node, feat=None if ev.features is None else list(ev.features))
        d.update(node_type=ev.node_type)
    return d


def event_from_dict(d: dict) -> Event:
    """Inverse of :func:`event_to_dict`; a bad dict raises :class:`EventError`."""
    kind = d.get("kind")
    try:
        if kind == "add_edge":
            return AddEdge(int(d["src"]), int(d["dst"]), float(d.get("weight", 1.0) or 1.0))
        if kind == "remove_edge":
            return RemoveEdge(int(d["src"]), int(d["dst"]))
        if kind == "update_features":
            return UpdateFeatures(int(d["node"]), d["feat"])
        if kind == "add_node":
            return AddNode(d.get("node"), d.get("feat"), d.get("node_type"))
    except (KeyError, TypeError, ValueError) as exc:
        raise EventError(f"event {d!r}: missing or bad field ({exc})") from exc
    raise EventError(f"event {d!r}: unknown kind {kind!r} (allowed: {list(EVENT_KINDS.values())})")
