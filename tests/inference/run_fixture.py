"""A tiny trained recommender run (LightGCN, 2 layers) made with the real training loop."""

from __future__ import annotations

from pathlib import Path


def make_run(root: Path, model: str = "lightgcn") -> Path:
    """Train a few steps on a generated 200 × 100 user–item graph; returns the run folder."""
    from dsgraph.config import config_from_dict
    from dsgraph.train.trainer import train

    raw = {
        "version": 1,
        "data": {
            "path": str(root / "ui"),
            "generate": {"kind": "user_item", "num_users": 200, "num_items": 100, "seed": 0},
        },
        "sampler": {"kind": "full"},
        "model": {"name": model, "embedding_dim": 16, "hidden_dim": 16, "num_layers": 2},
        "task": {"kind": "recommendation", "k": 10},
        "train": {
            "epochs": 2,
            "batch_size": 1024,
            "lr": 0.01,
            "precision": "fp32",
            "threads": 1,
            "seed": 0,
        },
        "cluster": {"num_workers": 0},
        "output": {"dir": str(root / "runs"), "overwrite": True},
    }
    run_dir = root / "runs" / "rec"
    train(config_from_dict(raw), run_dir, progress=False)
    return run_dir
