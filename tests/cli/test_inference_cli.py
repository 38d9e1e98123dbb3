"""``dsgraph embed`` / ``dsgraph update`` on a real (tiny) trained run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from run_fixture import make_run

from dsgraph.cli import main
from dsgraph.inference.events import AddEdge, RemoveEdge, write_events


def read_embeddings(run_dir: Path) -> np.ndarray:
    col = pq.read_table(run_dir / "embeddings.parquet").column("embedding").combine_chunks()
    return np.asarray(col.flatten().to_numpy()).reshape(len(col), -1)


def run_cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("inference_cli"))


def test_embed_reproduces_the_trained_embeddings(run_dir):
    trained = read_embeddings(run_dir)
    assert run_cli(["embed", str(run_dir)]) == 0
    embedded = read_embeddings(run_dir)
    assert embedded.shape == trained.shape
    assert np.abs(embedded - trained).max() <= 1e-5


def test_update_applies_events_logs_them_and_rejects_bad_ones(run_dir, tmp_path, capsys):
    from dsgraph.inference.run import load_run

    graph = load_run(run_dir).graph
    user = 7
    seen = set(graph.neighbors(user).tolist())
    new_item = next(i for i in range(200, 300) if i not in seen)
    old_item = int(graph.neighbors(user)[0])
    events = tmp_path / "events.parquet"
    write_events(events, [AddEdge(user, new_item), RemoveEdge(user, old_item), AddEdge(0, 999)])
    before = read_embeddings(run_dir)
    assert run_cli(["update", str(run_dir), "--events", str(events), "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert "unknown node dst=999" in out
    assert f"user {user}:" in out
    after = read_embeddings(run_dir)
    changed = np.abs(after - before).max(axis=1) > 0
    assert changed[user] and changed[new_item] and changed[old_item]
    assert (run_dir / "inference" / "events.jsonl").is_file()
    # a second update starts from the updated graph: the edge added above exists now
    again = tmp_path / "again.parquet"
    write_events(again, [AddEdge(user, new_item)])
    assert run_cli(["update", str(run_dir), "--events", str(again)]) == 0
    assert f"edge {user}→{new_item} already exists" in capsys.readouterr().out


def test_atomic_update_with_a_bad_event_changes_nothing(run_dir, tmp_path, capsys):
    log = run_dir / "inference" / "events.jsonl"
    lines = log.read_text().count("\n") if log.exists() else 0
    before = read_embeddings(run_dir)
    events = tmp_path / "bad.parquet"
    write_events(events, [RemoveEdge(1, 2)])  # users 1 and 2 are never connected
    assert run_cli(["update", str(run_dir), "--events", str(events), "--atomic"]) == 2
    assert "batch refused" in capsys.readouterr().err
    assert np.array_equal(read_embeddings(run_dir), before)
    assert (log.read_text().count("\n") if log.exists() else 0) == lines


def test_update_names_a_malformed_event_file(run_dir, tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    assert run_cli(["update", str(run_dir), "--events", str(bad)]) == 2
    assert "not a readable Parquet file" in capsys.readouterr().err
    assert run_cli(["update", str(run_dir), "--events", str(tmp_path / "nope.parquet")]) == 2


@pytest.mark.slow
@pytest.mark.ray
def test_embed_on_partition_actors_from_a_partitioned_dataset(run_dir, tmp_path):
    """``dsgraph partition`` the run's data, then ``dsgraph embed --parts`` on 4 actors."""
    from dsgraph.inference.run import load_run

    current = read_embeddings(run_dir)  # includes the updates logged by the tests above
    data = load_run(run_dir).config.data.path
    parts = tmp_path / "parts"
    assert run_cli(["partition", str(data), "--parts", "4", "--out", str(parts)]) == 0
    try:
        assert run_cli(["embed", str(run_dir), "--parts", str(parts)]) == 0
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    assert np.abs(read_embeddings(run_dir) - current).max() <= 1e-5
