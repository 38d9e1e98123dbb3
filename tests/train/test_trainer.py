"""End-to-end local training on a generated user–item graph and on labelled communities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dsgraph.config import config_from_dict
from dsgraph.errors import ConfigError, DsgraphError
from dsgraph.train.metrics_log import read_metrics
from dsgraph.train.trainer import Trainer, evaluate_run, recommend, train


@pytest.fixture(scope="module")
def user_item(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dsgraph.datasets import generate_user_item

    return generate_user_item(tmp_path_factory.mktemp("data") / "ui", 300, 150, seed=0)


def rec_config(data: Path, out: Path, **train: object) -> object:
    return config_from_dict(
        {
            "version": 1,
            "data": {"path": str(data)},
            "model": {"name": "lightgcn", "embedding_dim": 32, "num_layers": 2},
            "task": {"kind": "recommendation", "k": 20},
            "train": {
                "epochs": 8,
                "batch_size": 1024,
                "lr": 0.02,
                "threads": 1,
                "checkpoint_every": 10,
                **train,
            },
            "output": {"dir": str(out), "name": "rec"},
        }
    )


def test_recommender_run_leaves_a_complete_folder_and_beats_popularity(
    user_item: Path, tmp_path: Path
) -> None:
    cfg = rec_config(
        user_item, tmp_path, precision="bf16", compression={"enabled": True, "ratio": 0.05}
    )
    result = train(cfg, tmp_path / "rec", progress=False)
    root = tmp_path / "rec"
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "curves.png",
        "embeddings.parquet",
        "summary.json",
    ):
        assert (root / name).is_file(), name
    assert list((root / "checkpoints").glob("ckpt-*.pt"))
    assert result.final["recall@20"] > result.baseline["recall@20"] + 0.02
    records = read_metrics(root / "metrics.jsonl")
    steps = [r for r in records if r["kind"] == "step"]
    assert len(steps) == result.steps
    assert all("compression/ratio" in r and "loss_scale" in r for r in steps)
    assert steps[-1]["compression/ratio"] < 0.2
    table = pq.read_table(root / "embeddings.parquet")
    assert table.num_rows == 450 and table.column_names == ["id", "type", "embedding"]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["steps"] == result.steps
    # evaluate re-scores the final checkpoint to the same numbers; recommend ranks unseen items
    final, _, headline = evaluate_run(root)
    assert headline == "recall@20"
    assert final["recall@20"] == pytest.approx(result.final["recall@20"], abs=1e-6)
    top = recommend(root, user=3, k=5)
    assert len(top) == 5 and all(300 <= item < 450 for item, _ in top)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)


def test_node_classification_run(tmp_path: Path) -> None:
    from dsgraph.storage import write_dataset

    rng = np.random.default_rng(0)
    n = 120
    labels = np.repeat([0, 1, 2], n // 3)
    src, dst = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    keep = (labels[src] == labels[dst]) | (rng.random(1500) < 0.1)
    feats = (rng.normal(size=(n, 8)) + labels[:, None]).astype(np.float32)
    split = np.tile(np.array([1, 2, 3], dtype=np.int8), n // 3)
    data = write_dataset(
        tmp_path / "sbm",
        src=src[keep],
        dst=dst[keep],
        num_nodes=n,
        directed=False,
        name="sbm",
        features=feats,
        labels=labels,
        split=split,
    )
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": str(data)},
            "model": {"name": "graphsage", "hidden_dim": 16, "num_layers": 2},
            "task": {"kind": "node_classification"},
            "train": {"epochs": 30, "batch_size": 64, "lr": 0.02, "threads": 1},
            "output": {"plots": False},
        }
    )
    result = train(cfg, tmp_path / "nc", progress=False)
    assert result.final["test_accuracy"] > 0.8 > result.baseline["test_accuracy"]
    assert not (tmp_path / "nc" / "curves.png").exists()


def test_missing_data_path_fails_before_writing(tmp_path: Path) -> None:
    cfg = rec_config(tmp_path / "nowhere", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        Trainer(cfg, tmp_path / "rec", progress=False)
    assert not (tmp_path / "rec").exists()


def test_wrong_dataset_for_task_fails_before_writing(user_item: Path, tmp_path: Path) -> None:
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": str(user_item)},
            "model": {"name": "gcn"},
            "task": {"kind": "node_classification"},
        }
    )
    with pytest.raises(DsgraphError, match="label"):
        Trainer(cfg, tmp_path / "nc", progress=False)
    assert not (tmp_path / "nc").exists()


def test_existing_run_is_not_overwritten_without_consent(user_item: Path, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    (root / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(rec_config(user_item, tmp_path), root, progress=False)
    assert (root / "keep.txt").read_text() == "x"


def test_resume_refuses_checkpoint_of_another_config(user_item: Path, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    train(rec_config(user_item, tmp_path, epochs=1), root, progress=False)
    before = sorted(p.name for p in root.rglob("*"))
    with pytest.raises(DsgraphError, match="another configuration"):
        Trainer(rec_config(user_item, tmp_path, lr=0.5), root, resume=True, progress=False)
    assert sorted(p.name for p in root.rglob("*")) == before


def test_guard_rollback_restores_checkpoint_and_lowers_lr(user_item: Path, tmp_path: Path) -> None:
    cfg = rec_config(
        user_item,
        tmp_path,
        epochs=4,
        lr=0.02,
        guard={"warmup_steps": 0, "max_anomalies": 2, "window": 100},
    )
    trainer = Trainer(cfg, tmp_path / "rec", progress=False)
    original = trainer.task.loss
    calls = {"n": 0}

    def flaky(model, batch):  # NaN on two steps in a row
        calls["n"] += 1
        loss = original(model, batch)
        return loss * float("nan") if calls["n"] in (3, 4) else loss

    trainer.task.loss = flaky
    trainer.stepper.task.loss = flaky
    result = trainer.run()
    events = [r for r in read_metrics(tmp_path / "rec" / "metrics.jsonl") if r["kind"] == "event"]
    assert [e["event"] for e in events] == ["nonfinite", "rollback"]
    assert trainer.lr_scale == pytest.approx(0.5)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    assert result.steps == trainer.total_steps()


@pytest.mark.parametrize(
    ("model", "sampler"),
    [
        ("graphsage", {"kind": "neighbor", "fanouts": [5, 5]}),
        ("pinsage", {"kind": "pinsage", "num_walks": 20, "walk_length": 2, "top_t": 5}),
        ("gat", {"kind": "full"}),
        ("gcn", {"kind": "full"}),
    ],
)
def test_every_model_and_sampler_trains(
    user_item: Path, tmp_path: Path, model: str, sampler: dict
) -> None:
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": str(user_item)},
            "model": {
                "name": model,
                "embedding_dim": 16,
                "hidden_dim": 16,
                "num_layers": 2,
                "heads": 2,
            },
            "sampler": sampler,
            "train": {"epochs": 4, "batch_size": 512, "lr": 0.02, "threads": 1},
            "output": {"plots": False, "embeddings": False},
        }
    )
    result = train(cfg, tmp_path / model, progress=False)
    steps = [r for r in read_metrics(tmp_path / model / "metrics.jsonl") if r["kind"] == "step"]
    assert np.isfinite([r["loss"] for r in steps]).all()
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert result.final["recall@20"] > 0


def test_metrics_log_survives_a_torn_line_and_truncates(tmp_path: Path) -> None:
    from dsgraph.train.metrics_log import MetricsLog, truncate_metrics

    path = tmp_path / "metrics.jsonl"
    with MetricsLog(path) as log:
        for step in range(1, 6):
            log.write("step", step, loss=1.0 / step)
        log.write("step", 6, loss=float("nan"))
    with open(path, "a") as fh:
        fh.write('{"kind": "step", "st')  # a kill in the middle of a write
    records = read_metrics(path)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[-1]["loss"] == "nan"
    truncate_metrics(path, 3)
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3]
