"""``dsgraph train | evaluate | recommend`` through the real entry point; bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ._helpers import run


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dsgraph.datasets import generate_user_item

    root = tmp_path_factory.mktemp("cli")
    data = generate_user_item(root / "ui", 150, 80, seed=2)
    raw = {
        "version": 1,
        "data": {"path": str(data)},
        "model": {"name": "lightgcn", "embedding_dim": 16, "num_layers": 2},
        "train": {"epochs": 3, "batch_size": 1024, "lr": 0.02, "threads": 1},
        "output": {"dir": str(root / "runs"), "plots": False},
    }
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_train_evaluate_recommend(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["train", str(config), "--no-progress"], capsys)
    assert code == 0, err
    assert "recall@20" in out and "baseline" in out
    run_dir = config.parent / "runs" / "small"
    assert (run_dir / "embeddings.parquet").is_file()
    code, out, _ = run(["evaluate", str(run_dir)], capsys)
    assert code == 0 and "ndcg@20" in out
    code, out, _ = run(["recommend", str(run_dir), "--user", "4", "--k", "3"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 3 and all("item" in line for line in lines)
    code, _, err = run(["recommend", str(run_dir), "--user", "999"], capsys)
    assert code == 2 and "out of range" in err
    # the folder holds a run now: a fresh run without --resume / overwrite is refused
    code, _, err = run(["train", str(config), "--no-progress"], capsys)
    assert code == 2 and "--resume" in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.lrr=0.1", "did you mean 'train.lr'"),
        ("train.epochs=lots", "train.epochs='lots'"),
        ("data.path=/nonexistent/dsgraph", "does not exist"),
        ("task.kind=node_classification", "incompatible"),
        ("cluster.num_workerz=2", "did you mean 'cluster.num_workers'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_folder(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    override: str,
    expected: str,
) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run(
        ["train", str(config), "--set", override, "--out", str(out_dir), "--no-progress"], capsys
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsgraph: error:") and expected in lines[0]
    assert not out_dir.exists()


def test_checkpoint_from_another_config(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "run"
    assert run(["train", str(config), "--out", str(out_dir), "--no-progress"], capsys)[0] == 0
    code, _, err = run(
        [
            "train",
            str(config),
            "--out",
            str(out_dir),
            "--resume",
            "--set",
            "train.lr=0.3",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 2 and "another configuration" in err and len(err.strip().splitlines()) == 1
