"""Load what inference needs from a training run folder written by ``dsgraph train``.

The model is rebuilt from the resolved ``config.yaml`` and the newest complete checkpoint; the
graph and features are the ones the task trained on (for recommendation: the symmetrised train
interactions, users 0..U-1 then items). Events applied by ``dsgraph update`` are kept in
``inference/events.jsonl`` inside the run folder and re-applied on the next load, so the graph
an update sees includes every earlier update.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.errors import ConfigError
from dsgraph.graph import CSRGraph
from dsgraph.inference.events import Event, event_from_dict, event_to_dict

EVENT_LOG = Path("inference") / "events.jsonl"


@dataclass
class LoadedRun:
    """A trained model with the graph, features and node types it runs on."""

    run_dir: Path
    config: Any
    model: torch.nn.Module
    graph: CSRGraph
    features: torch.Tensor | None
    node_type: np.ndarray | None
    num_users: int | None
    num_items: int | None


def load_run(run_dir: str | os.PathLike[str]) -> LoadedRun:
    """Rebuild model (with trained weights), graph and features of ``run_dir``."""
    from dsgraph.models.registry import build_model
    from dsgraph.tasks.registry import build_task
    from dsgraph.train.checkpoint import CheckpointManager
    from dsgraph.train.run import (
        RunLayout,
        load_dataset,
        node_types_of,
        read_run_config,
        training_hash,
    )

    root = Path(run_dir)
    config = read_run_config(root)
    dataset = load_dataset(config)
    task = build_task(dataset, config)
    model = build_model(
        config.model, num_nodes=task.num_nodes, in_dim=task.in_dim, out_dim=task.out_dim
    )
    if not getattr(model, "layerwise", False) or getattr(model, "aggregation", None) is None:
        raise ConfigError(
            f"{root}: model.name={config.model.name!r} is not layer-wise (attention is not "
            "decomposable); incremental inference supports lightgcn, gcn, graphsage, pinsage"
        )
    layout = RunLayout(root)
    manager = CheckpointManager(layout.checkpoints, config_hash=training_hash(config))
    state = manager.load(fallback=True)
    model.load_state_dict(state["model"])
    model.eval()
    graph, weighted = _graph_of(task)
    if weighted:
        # the model aggregated edge weights during training (weighted adjacency)
        model.edge_weighted = True
    features = getattr(task, "features", None)
    return LoadedRun(
        run_dir=root,
        config=config,
        model=model,
        graph=graph,
        features=None if features is None else features.float(),
        node_type=node_types_of(task, dataset),
        num_users=getattr(task, "num_users", None),
        num_items=getattr(task, "num_items", None),
    )


def _graph_of(task: Any) -> tuple[CSRGraph, bool]:
    """The graph the model aggregates over (from the task's eval input): (graph, weighted)."""
    inp = task.full_input() if hasattr(task, "full_input") else task.inputs.for_eval()
    adj = inp.adj_t.to_sparse_csr()
    crow = adj.crow_indices().numpy()
    col = adj.col_indices().numpy().astype(np.int64)
    values = adj.values().float().numpy()
    rows = np.repeat(np.arange(crow.size - 1, dtype=np.int64), np.diff(crow))
    weighted = bool(values.size and not np.all(values == 1.0))
    # adj_t row = target, column = source: edges are column → row
    graph = CSRGraph.from_edges(col, rows, crow.size - 1, values if weighted else None)
    return graph, weighted


def read_event_log(run_dir: str | os.PathLike[str]) -> list[list[Event]]:
    """Batches applied by earlier ``dsgraph update`` calls, in order."""
    path = Path(run_dir) / EVENT_LOG
    if not path.is_file():
        return []
    batches = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line: that batch was never acknowledged
            batches.append([event_from_dict(d) for d in rec["events"]])
    return batches


def append_event_log(run_dir: str | os.PathLike[str], seq: int, events: list[Event]) -> None:
    """Append one applied batch (fsynced) to the run's event log."""
    path = Path(run_dir) / EVENT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"seq": int(seq), "events": [event_to_dict(e) for e in events]})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def write_run_embeddings(run_dir: str | os.PathLike[str], emb: torch.Tensor, node_type) -> Path:
    """Replace ``embeddings.parquet`` of the run (atomically)."""
    from dsgraph.train.run import RunLayout, write_embeddings

    path = RunLayout(Path(run_dir)).embeddings
    write_embeddings(path, emb, node_type)
    return path
