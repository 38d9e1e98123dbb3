"""A run folder and everything needed to (re)build a run from its config.

Layout of ``<output.dir>/<name>/``::

    config.yaml          the resolved config (every default filled in)
    metrics.jsonl        one JSON record per step / evaluation / guard event
    curves.png           loss, headline metric, loss scale, compression ratio
    checkpoints/         ckpt-<step>.pt + manifest (dsgraph.train.checkpoint)
    embeddings.parquet   id (int64), type (int8: 0 user / 1 item, or node type), embedding
    summary.json         final metrics, baseline, timings (written last: the run finished)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from dsgraph.config import RunConfig, validate_config
from dsgraph.errors import ConfigError, DatasetError
from dsgraph.storage.atomic import atomic_file


@dataclass(frozen=True)
class RunLayout:
    """Paths inside one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def embeddings(self) -> Path:
        return self.root / "embeddings.parquet"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def training_hash(config: RunConfig) -> str:
    """Config hash recorded in checkpoints: every section but ``output`` and run-length limits.

    Extending ``train.epochs``/``max_steps``/``time_budget_s`` on resume keeps the trajectory,
    so those do not invalidate a checkpoint; anything else that changes training does.
    """
    from dsgraph.train.checkpoint import config_hash

    resolved = config.resolved()
    resolved.pop("output", None)
    for key in ("epochs", "max_steps", "time_budget_s", "eval_every", "log_every"):
        resolved["train"].pop(key, None)
    return config_hash(resolved)


def prepare_run_dir(layout: RunLayout, *, resume: bool, overwrite: bool) -> None:
    """Check the folder can be used; on a fresh run, clear it (``overwrite``) or refuse."""
    root = layout.root
    if resume:
        if not layout.checkpoints.is_dir():
            raise ConfigError(
                f"--resume: {root} has no checkpoints/ to resume from; run without --resume"
            )
        return
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"output folder {root} already holds a run; pass --resume to continue it, "
                "--out to choose another folder, or --set output.overwrite=true to replace it"
            )
        shutil.rmtree(root)


def write_resolved_config(layout: RunLayout, config: RunConfig) -> None:
    with atomic_file(layout.config) as tmp:
        tmp.write_text(yaml.safe_dump(config.resolved(), sort_keys=False))


def read_run_config(root: str | Path) -> RunConfig:
    """The resolved config of a run folder."""
    layout = RunLayout(Path(root))
    if not layout.config.is_file():
        raise ConfigError(f"{root} is not a dsgraph run folder (no config.yaml)")
    return validate_config(yaml.safe_load(layout.config.read_text()), str(layout.config))


def write_summary(layout: RunLayout, summary: dict[str, Any]) -> None:
    with atomic_file(layout.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def write_embeddings(path: Path, emb: torch.Tensor, node_type: np.ndarray | None) -> None:
    """``emb`` float32 [N, D] as Parquet: id, optional type, embedding (fixed-size list)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = emb.detach().float().contiguous().numpy()
    n, d = values.shape
    columns = {"id": pa.array(np.arange(n, dtype=np.int64))}
    if node_type is not None:
        columns["type"] = pa.array(np.asarray(node_type, dtype=np.int8))
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), d)
    with atomic_file(path) as tmp:
        pq.write_table(pa.table(columns), tmp)


def load_dataset(config: RunConfig) -> Any:
    """Read ``data.path``; generate it first when missing and ``data.generate`` says how."""
    from dsgraph.storage import read_dataset

    path = Path(config.data.path)
    if not path.exists():
        gen = config.data.generate
        if gen is None:
            raise ConfigError(
                f"data.path={str(path)!r} does not exist (set data.generate to create synthetic "
                "data there, or convert a dataset with `dsgraph convert`)"
            )
        generate_dataset(path, gen)
    try:
        return read_dataset(path)
    except DatasetError:
        raise
    except FileNotFoundError as exc:
        raise DatasetError(f"data.path={str(path)!r}: {exc}") from None


def generate_dataset(path: Path, gen: Any) -> None:
    """Create the synthetic dataset ``gen`` describes at ``path`` (seeded, deterministic)."""
    import dsgraph.datasets as datasets

    try:
        if gen.kind == "user_item":
            datasets.generate_user_item(
                path, num_users=gen.num_users, num_items=gen.num_items, seed=gen.seed
            )
        elif gen.kind == "sbm":
            datasets.generate_sbm(
                path,
                num_nodes=gen.num_nodes,
                num_classes=gen.num_classes,
                feature_dim=gen.feature_dim,
                seed=gen.seed,
            )
        else:
            datasets.generate_rmat(path, gen.scale, seed=gen.seed)
    except (AttributeError, ImportError) as exc:
        raise ConfigError(f"data.generate.kind={gen.kind!r} is unavailable here: {exc}") from None


def node_types_of(task: Any, dataset: Any = None) -> np.ndarray | None:
    """0 = user, 1 = item for recommendation; the dataset's node types otherwise."""
    if getattr(task, "kind", "") == "recommendation":
        return np.concatenate([np.zeros(task.num_users, np.int8), np.ones(task.num_items, np.int8)])
    return None if dataset is None else dataset.node_type
