"""ParameterServer actors on a real local Ray: routing, batching, restart from checkpoint."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dsgraph.distributed.cluster import actor_error_reason, get
from dsgraph.distributed.errors import ClusterError
from dsgraph.distributed.parameter_server import ServerConfig, create_parameter_servers
from dsgraph.distributed.payloads import ModelLayout, PushAck, RowGrads, TableSpec, TensorSpec
from dsgraph.distributed.ps_client import PSClient

pytestmark = pytest.mark.ray

LAYOUT = ModelLayout(
    tensors=(TensorSpec("w", (300, 10)), TensorSpec("b", (10,))),
    tables=(TableSpec("emb", 50, 8),),
)
# unbounded staleness: these tests push without pulling in between (exact arithmetic wanted)
SGD = ServerConfig(
    dense_optimizer="sgd", dense_lr=1.0, row_optimizer="sgd", row_lr=1.0, max_staleness=10**6
)


def _init() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    dense = rng.standard_normal(LAYOUT.dense_numel).astype(np.float32)
    return dense, {"emb": rng.standard_normal((50, 8)).astype(np.float32)}


def _checkpointing_sgd(folder, every: int) -> ServerConfig:
    """Plain SGD (lr 1: parameters show every applied update) checkpointing every ``every``."""
    return ServerConfig(
        dense_optimizer="sgd",
        dense_lr=1.0,
        row_optimizer="sgd",
        checkpoint_dir=str(folder),
        checkpoint_every=every,
        max_staleness=10**6,
    )


def test_two_shards_route_pulls_and_pushes(ray_session) -> None:
    dense, rows = _init()
    servers = create_parameter_servers(LAYOUT, 2, SGD, dense, rows)
    client = PSClient(servers, LAYOUT, worker=0, timeout=60)
    np.testing.assert_array_equal(client.pull_dense(), dense)
    ids = np.array([7, 2, 7, 49, 0])
    np.testing.assert_array_equal(client.pull_rows("emb", ids), rows["emb"][ids])
    pos = np.array([0, 1500, 3009], np.int64)  # both shards
    client.push(0, pos, np.ones(3, np.float32), [RowGrads("emb", ids, np.ones((5, 8), np.float32))])
    client.flush()
    expected = dense.copy()
    expected[pos] -= 1
    np.testing.assert_array_equal(client.pull_dense(), expected)
    expected_rows = rows["emb"].copy()
    np.subtract.at(expected_rows, ids, 1.0)
    np.testing.assert_allclose(client.pull_rows("emb", np.arange(50)), expected_rows)
    # an unchanged shard is not re-sent
    before = client.bytes_received
    client.pull_dense()
    assert client.bytes_received == before


@pytest.mark.parametrize("apply_queue", [8, 0])
def test_small_pushes_are_batched_into_one_call_per_shard(ray_session, apply_queue: int) -> None:
    dense, rows = _init()
    servers = create_parameter_servers(LAYOUT, 1, SGD, dense, rows, apply_queue=apply_queue)
    client = PSClient(servers, LAYOUT, worker=3, timeout=60, batch_bytes=10_000)
    for seq in range(20):
        client.push(seq, rows=[RowGrads("emb", np.array([seq]), np.ones((1, 8), np.float32))])
    assert sum(len(q) for q in client.pending) > 1  # queued, not yet sent
    acks = client.flush()
    assert [a.status for a in acks] == ["applied"] * 20
    assert get(servers[0].metrics.remote(), 60, "metrics").version == 20
    np.testing.assert_allclose(client.pull_rows("emb", np.arange(20)), rows["emb"][:20] - 1)


def test_killed_shard_restarts_from_checkpoint_and_never_double_applies(
    ray_session, tmp_path
) -> None:
    import ray

    dense, rows = _init()
    config = _checkpointing_sgd(tmp_path, every=5)
    (server,) = create_parameter_servers(LAYOUT, 1, config, dense, rows, max_restarts=2)
    client = PSClient([server], LAYOUT, worker=0, timeout=60)
    one = np.array([4], np.int64)
    for seq in range(12):  # checkpoints at versions 5 and 10
        client.push(seq, one, np.ones(1, np.float32))
    pid = get(server.info.remote(), 60, "info")["pid"]
    ray.kill(server, no_restart=False)
    deadline = time.time() + 60
    info = {"pid": pid}
    while info["pid"] == pid:  # ray.kill is asynchronous: wait for the restarted process
        assert time.time() < deadline, "shard did not come back"
        try:
            info = get(server.info.remote(), 60, "info")
        except ClusterError:
            time.sleep(0.5)
    assert info["pid"] != pid
    assert info["version"] == info["restored_version"] == 10  # not below its last checkpoint
    # the worker replays everything it is unsure about: only seqs 10, 11 apply (again) once
    client.dense_versions[:] = -1
    acks = [client.push(seq, one, np.ones(1, np.float32)) or client.acks[-1] for seq in range(12)]
    assert [a.status for a in acks].count("applied") == 2
    assert client.pull_dense()[4] == pytest.approx(dense[4] - 12)
    ray.kill(server)


def test_checkpoint_of_another_model_is_refused_by_the_actor(ray_session, tmp_path) -> None:
    import ray

    config = ServerConfig(checkpoint_dir=str(tmp_path), checkpoint_every=1)
    (first,) = create_parameter_servers(LAYOUT, 1, config)
    client = PSClient([first], LAYOUT, worker=0, timeout=60)
    client.push(0, np.array([0]), np.ones(1, np.float32))
    ray.kill(first)
    other = ModelLayout(tensors=(TensorSpec("w", (301, 10)),), tables=LAYOUT.tables)
    (second,) = create_parameter_servers(other, 1, config)
    with pytest.raises(ClusterError) as err:
        get(second.info.remote(), 60, "start PS")
    reason = actor_error_reason(err.value.__cause__)
    assert "PSCheckpointError" in reason and "another model" in reason


def _pipelined_updates(seed: int, count: int) -> list:
    """One worker's Top-K pushes with replays of earlier seqs mixed in (a retrying caller)."""
    from dsgraph.distributed.payloads import DenseGrad, ShardUpdate

    rng = np.random.default_rng(seed)
    updates, seq = [], 0
    for i in range(count):
        if seq and i % 7 == 3:
            s = int(rng.integers(seq))  # replayed: must be a duplicate, never applied twice
        else:
            s, seq = seq, seq + 1
        idx = rng.choice(LAYOUT.dense_numel, 400, replace=False).astype(np.int32)
        grad = DenseGrad(rng.standard_normal(400).astype(np.float32), idx)
        updates.append(ShardUpdate(0, s, max(0, s - 3), grad))
    return updates


def test_pipelined_pushes_apply_once_each_in_order_as_sequential(ray_session, tmp_path) -> None:
    """Many pushes in flight (read-only object-store payloads, the apply thread busy, periodic
    checkpoints) give exactly the verdicts, parameters and checkpoints of sequential pushes."""
    import ray

    from dsgraph.distributed.parameter_server import ParameterShard, checkpoint_path

    dense, _ = _init()
    updates = _pipelined_updates(1, 80)

    def config(directory) -> ServerConfig:  # Adam: the result depends on the order of updates
        return ServerConfig(
            dense_optimizer="adam",
            dense_lr=0.01,
            max_staleness=2,
            checkpoint_dir=str(directory),
            checkpoint_every=9,
        )

    reference = ParameterShard(LAYOUT, 0, 1, config(tmp_path / "ref"))
    reference.initialize(dense)
    expected = [reference.push(u) for u in updates]
    (server,) = create_parameter_servers(LAYOUT, 1, config(tmp_path / "ps"), dense)
    refs = [ray.put(u) for u in updates]  # the actor receives read-only buffers
    acks = [PushAck.from_wire(w) for w in get([server.push.remote(r) for r in refs], 60, "push")]
    assert acks == expected
    statuses = [a.status for a in acks]
    assert statuses.count("duplicate") == sum(1 for i in range(80) if i % 7 == 3)
    applied = [a.version for a in acks if a.status in ("applied", "downweighted")]
    assert applied == list(range(1, len(applied) + 1))
    assert get(server.wait_applied.remote(), 60, "wait_applied") == reference.version
    snap = get(server.pull_dense.remote(-1), 60, "pull")
    np.testing.assert_array_equal(snap.values, reference.params)
    assert snap.version == reference.version
    with (
        np.load(checkpoint_path(tmp_path / "ps", 0, 1)) as got,
        np.load(checkpoint_path(tmp_path / "ref", 0, 1)) as want,
    ):
        for key in ("params", "dense_opt/m", "dense_opt/v", "dense_opt/t"):
            np.testing.assert_array_equal(got[key], want[key])
    m = get(server.metrics.remote(), 60, "metrics")
    assert m.checkpoints == reference.metrics().checkpoints == len(applied) // 9 + 1
    ray.kill(server)


def test_two_concurrent_callers_each_apply_once_in_their_own_order(ray_session) -> None:
    import ray

    from dsgraph.distributed.payloads import DenseGrad, ShardUpdate

    (server,) = create_parameter_servers(LAYOUT, 1, SGD, np.zeros(LAYOUT.dense_numel, np.float32))

    @ray.remote(num_cpus=0)
    def caller(ps, worker: int, count: int) -> list:
        one = DenseGrad(np.ones(1, np.float32), np.array([worker], np.int32))
        refs = [ps.push.remote(ShardUpdate(worker, s, 0, one)) for s in range(count)]
        refs += [ps.push.remote(ShardUpdate(worker, s, 0, one)) for s in range(0, count, 5)]
        return [PushAck.from_wire(w) for w in ray.get(refs)]

    results = get([caller.remote(server, w, 60) for w in (0, 1)], 120, "callers")
    for acks in results:
        assert [a.status for a in acks[:60]] == ["applied"] * 60
        assert [a.status for a in acks[60:]] == ["duplicate"] * 12
        versions = [a.version for a in acks[:60]]
        assert versions == sorted(versions)  # a caller's pushes apply in its order
    all_versions = sorted(a.version for acks in results for a in acks[:60])
    assert all_versions == list(range(1, 121))  # one version per update, none shared or lost
    values = get(server.pull_dense.remote(-1), 60, "pull").values
    assert values[0] == values[1] == -60.0  # lr 1: each of the 60 unit steps applied once
    ray.kill(server)


def test_batched_pushes_with_a_bad_update_change_nothing_on_the_server(ray_session) -> None:
    import ray

    dense, rows = _init()
    (server,) = create_parameter_servers(LAYOUT, 1, SGD, dense, rows)
    client = PSClient([server], LAYOUT, worker=0, timeout=60, batch_bytes=1 << 20)
    for seq in range(3):
        client.push(seq, np.array([seq], np.int64), np.ones(1, np.float32))
    client.push(3, np.array([LAYOUT.dense_numel], np.int64), np.ones(1, np.float32))
    with pytest.raises(ray.exceptions.RayTaskError, match="outside"):
        client.flush()
    assert get(server.wait_applied.remote(), 60, "wait_applied") == 0
    np.testing.assert_array_equal(client.pull_dense(), dense)
    ray.kill(server)


def test_shard_killed_with_applies_queued_ends_with_each_update_applied_once(
    ray_session, tmp_path
) -> None:
    """Kill a shard while pushes are in flight and queued for its apply thread: it comes back at
    its last checkpoint; Ray retries the calls in flight (possibly in another order) and the
    caller replays everything: each update ends up applied exactly once."""
    import ray

    from dsgraph.distributed.payloads import DenseGrad, ShardUpdate

    dense, _ = _init()
    config = _checkpointing_sgd(tmp_path, every=10)
    (server,) = create_parameter_servers(LAYOUT, 1, config, dense, max_restarts=2)
    pid = get(server.info.remote(), 60, "info")["pid"]

    def update(seq: int) -> ShardUpdate:  # update seq moves position 7*seq by exactly -1
        return ShardUpdate(0, seq, 0, DenseGrad(np.ones(1, np.float32), np.array([7 * seq])))

    in_flight = [server.push.remote(update(s)) for s in range(40)]
    time.sleep(0.05)
    ray.kill(server, no_restart=False)
    ray.wait(in_flight, num_returns=len(in_flight), timeout=60)  # answered, retried or failed
    deadline = time.time() + 60
    info = {"pid": pid}
    while info["pid"] == pid:
        assert time.time() < deadline, "shard did not come back"
        try:
            info = get(server.info.remote(), 60, "info")
        except ClusterError:
            time.sleep(0.5)
    assert info["restored_version"] % 10 == 0 and info["restored_version"] <= 40
    get([server.push.remote(update(s)) for s in range(40)], 60, "replay")
    version = get(server.wait_applied.remote(), 60, "wait_applied")
    steps = np.round(dense - get(server.pull_dense.remote(-1), 60, "pull").values, 3)
    expected = np.zeros_like(steps)
    expected[7 * np.arange(40)] = 1.0
    np.testing.assert_array_equal(steps, expected)  # every update once, none twice
    assert version == 40
    ray.kill(server)
