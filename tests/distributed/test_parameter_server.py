"""ParameterShard state machine (no Ray): staleness, exactly-once, sharding, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.distributed.errors import PSCheckpointError
from dsgraph.distributed.parameter_server import ParameterShard, ServerConfig, checkpoint_path
from dsgraph.distributed.payloads import (
    DenseGrad,
    ModelLayout,
    RowGrads,
    RowPull,
    ShardUpdate,
    TableSpec,
    TensorSpec,
)
from dsgraph.distributed.ps_client import PSClient
from dsgraph.errors import ConfigError

LAYOUT = ModelLayout(
    tensors=(TensorSpec("w", (10, 5)), TensorSpec("b", (7,))),
    tables=(TableSpec("user", 11, 4),),
)


def _sgd(**kw) -> ServerConfig:
    return ServerConfig(dense_optimizer="sgd", dense_lr=1.0, row_optimizer="sgd", row_lr=1.0, **kw)


def _topk(worker: int, seq: int, base: int, idx, vals) -> ShardUpdate:
    return ShardUpdate(
        worker, seq, base, DenseGrad(np.asarray(vals, np.float32), np.asarray(idx, np.int32))
    )


def test_update_applies_once_per_worker_seq() -> None:
    shard = ParameterShard(LAYOUT, 0, 1, _sgd())
    ack = shard.push(_topk(0, 5, 0, [1], [2.0]))
    assert ack.status == "applied" and ack.version == 1
    assert shard.push(_topk(0, 5, 0, [1], [2.0])).status == "duplicate"
    # an older seq arriving late (a reordered retry) is applied once, then refused
    assert shard.push(_topk(0, 4, 0, [1], [2.0])).status == "applied"
    assert shard.push(_topk(0, 4, 0, [1], [2.0])).status == "duplicate"
    assert shard.version == 2 and shard.params[1] == -4.0
    assert shard.push(_topk(1, 5, 0, [1], [1.0])).status == "applied"  # another worker's seq
    assert shard.metrics().duplicates == 2


def test_seqs_too_far_below_the_highest_count_as_duplicates() -> None:
    from dsgraph.distributed.parameter_server import SEQ_WINDOW

    shard = ParameterShard(LAYOUT, 0, 1, _sgd(max_staleness=10**9))
    top = 3 * SEQ_WINDOW
    for seq in range(0, top + 1, 2):  # even seqs only: odd ones are holes
        shard.push(_topk(0, seq, 0, [0], [1.0]))
    assert len(shard.recent_seqs[0]) <= 2 * SEQ_WINDOW  # pruned, memory stays bounded
    assert shard.push(_topk(0, top - SEQ_WINDOW + 1, 0, [1], [1.0])).status == "applied"
    assert shard.push(_topk(0, top - SEQ_WINDOW, 0, [1], [1.0])).status == "duplicate"
    assert shard.push(_topk(0, top - 2, 0, [1], [1.0])).status == "duplicate"


def test_checkpoint_keeps_the_seq_window(tmp_path) -> None:
    config = ServerConfig(
        dense_optimizer="sgd", dense_lr=1.0, checkpoint_dir=str(tmp_path), checkpoint_every=1
    )
    shard = ParameterShard(LAYOUT, 0, 1, config)
    for seq in (0, 1, 5, 3):  # seqs 2 and 4 not (yet) seen
        shard.push(_topk(0, seq, 0, [seq], [1.0]))
    restarted = ParameterShard(LAYOUT, 0, 1, config)
    assert restarted.recent_seqs == {0: {0, 1, 3, 5}} and restarted.last_seq == {0: 5}
    statuses = [restarted.push(_topk(0, q, 0, [q], [1.0])).status for q in range(6)]
    assert statuses == ["duplicate", "duplicate", "applied", "duplicate", "applied", "duplicate"]
    np.testing.assert_array_equal(restarted.params[:6], -np.ones(6, np.float32))


def test_stale_updates_are_dropped_and_counted() -> None:
    shard = ParameterShard(LAYOUT, 0, 1, _sgd(max_staleness=2, staleness_policy="drop"))
    for seq in range(4):
        shard.push(_topk(0, seq, seq, [0], [1.0]))
    ack = shard.push(_topk(1, 0, 0, [2], [1.0]))  # computed 4 versions ago
    assert ack.status == "dropped" and ack.staleness == 4
    assert shard.params[2] == 0.0 and shard.version == 4
    m = shard.metrics()
    assert m.dropped == 1 and m.applied == 4 and m.staleness_hist[4] == 1


def test_stale_updates_are_downweighted() -> None:
    shard = ParameterShard(LAYOUT, 0, 1, _sgd(max_staleness=1, staleness_policy="downweight"))
    for seq in range(3):
        shard.push(_topk(0, seq, seq, [0], [1.0]))
    ack = shard.push(_topk(1, 0, 0, [2], [1.0]))
    assert ack.status == "downweighted" and ack.staleness == 3
    assert ack.weight == pytest.approx(1 / 3)
    assert shard.params[2] == pytest.approx(-1 / 3)
    assert shard.metrics().downweighted == 1


def test_rows_are_sharded_by_id_and_duplicates_summed() -> None:
    shards = [ParameterShard(LAYOUT, s, 2, _sgd(seed=3)) for s in range(2)]
    before = shards[1].pull_rows(RowPull("user", np.array([3, 5]))).rows.copy()
    grads = np.ones((3, 4), np.float32)
    shards[1].push(ShardUpdate(0, 0, 0, rows=(RowGrads("user", np.array([3, 5, 3]), grads),)))
    after = shards[1].pull_rows(RowPull("user", np.array([3, 5]))).rows
    np.testing.assert_allclose(before - after, [[2] * 4, [1] * 4])
    with pytest.raises(IndexError, match="not held by shard 0"):
        shards[0].pull_rows(RowPull("user", np.array([3])))
    with pytest.raises(IndexError, match="not held"):
        shards[1].pull_rows(RowPull("user", np.array([11])))


@settings(max_examples=40, deadline=None)
@given(
    num_ps=st.integers(1, 4),
    steps=st.lists(
        st.tuples(
            st.lists(st.integers(0, LAYOUT.dense_numel - 1), min_size=1, max_size=20, unique=True),
            st.lists(st.integers(0, 10), min_size=0, max_size=6),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_sharded_servers_equal_one_server(num_ps: int, steps) -> None:
    """Splitting updates over any number of shards gives the same parameters as one shard."""
    rng = np.random.default_rng(0)
    init = rng.standard_normal(LAYOUT.dense_numel).astype(np.float32)
    table = rng.standard_normal((11, 4)).astype(np.float32)
    config = _sgd()

    def run(n: int) -> tuple[np.ndarray, np.ndarray]:
        bounds = LAYOUT.shard_bounds(n)
        servers = [
            ParameterShard(LAYOUT, s, n, config, init[bounds[s] : bounds[s + 1]], {"user": table})
            for s in range(n)
        ]
        client = PSClient([None] * n, LAYOUT, worker=0)  # used only for its routing here
        for seq, (pos, row_ids) in enumerate(steps):
            pos = np.asarray(pos, np.int64)
            vals = np.linspace(-1, 1, pos.size).astype(np.float32)
            rows = np.asarray(row_ids, np.int64)
            grads = np.full((rows.size, 4), 0.5, np.float32)
            dense = client._split_dense(pos, vals)
            by_shard = client._split_rows([RowGrads("user", rows, grads)] if rows.size else [])
            for s in range(n):
                if dense[s] is not None or by_shard[s]:
                    servers[s].push(ShardUpdate(0, seq, 0, dense[s], tuple(by_shard[s])))
        flat = np.concatenate([srv.params for srv in servers])
        all_rows = np.arange(11)
        emb = np.empty((11, 4), np.float32)
        for s, srv in enumerate(servers):
            mine = all_rows[all_rows % n == s]
            emb[mine] = srv.pull_rows(RowPull("user", mine)).rows
        return flat, emb

    flat1, emb1 = run(1)
    flat_n, emb_n = run(num_ps)
    np.testing.assert_array_equal(flat1, flat_n)
    np.testing.assert_array_equal(emb1, emb_n)


def test_checkpoint_restores_state_and_applied_seqs(tmp_path) -> None:
    config = ServerConfig(checkpoint_dir=str(tmp_path), checkpoint_every=3, dense_lr=0.1)
    shard = ParameterShard(LAYOUT, 1, 2, config)
    for seq in range(7):
        shard.push(_topk(0, seq, seq, [seq % 3], [1.0]))
    assert shard.metrics().checkpoints == 2  # at versions 3 and 6
    reloaded = ParameterShard(LAYOUT, 1, 2, config)
    assert reloaded.version == reloaded.restored_version == 6
    assert reloaded.last_seq == {0: 5}
    # replaying the last update after a "crash" applies it exactly once more
    assert reloaded.push(_topk(0, 6, 6, [0], [1.0])).status == "applied"
    assert reloaded.push(_topk(0, 5, 5, [2], [1.0])).status == "duplicate"
    np.testing.assert_array_equal(reloaded.params, shard.params)


def test_checkpoint_of_another_model_is_refused(tmp_path) -> None:
    config = ServerConfig(checkpoint_dir=str(tmp_path), checkpoint_every=1)
    ParameterShard(LAYOUT, 0, 1, config).push(_topk(0, 0, 0, [0], [1.0]))
    other = ModelLayout(tensors=(TensorSpec("w", (10, 6)),), tables=LAYOUT.tables)
    with pytest.raises(PSCheckpointError, match="another model") as err:
        ParameterShard(other, 0, 1, config)
    assert str(checkpoint_path(tmp_path, 0, 1)) in str(err.value)
    adam = ServerConfig(checkpoint_dir=str(tmp_path), checkpoint_every=1, dense_optimizer="sgd")
    with pytest.raises(PSCheckpointError, match="dense_optimizer"):
        ParameterShard(LAYOUT, 0, 1, adam)


def test_corrupt_checkpoint_is_refused(tmp_path) -> None:
    checkpoint_path(tmp_path, 0, 1).write_bytes(b"not a zip")
    with pytest.raises(PSCheckpointError, match="unreadable"):
        ParameterShard(LAYOUT, 0, 1, ServerConfig(checkpoint_dir=str(tmp_path)))


def test_bad_config_and_shapes() -> None:
    with pytest.raises(ConfigError, match="staleness_policy"):
        ServerConfig(staleness_policy="ignore")
    with pytest.raises(ConfigError, match="expected"):
        ParameterShard(LAYOUT, 0, 1, _sgd(), initial_dense=np.zeros(3, np.float32))
    shard = ParameterShard(LAYOUT, 0, 1, _sgd())
    with pytest.raises(IndexError, match="outside"):
        shard.push(_topk(0, 0, 0, [LAYOUT.dense_numel], [1.0]))


def test_pull_dense_skips_unchanged_versions() -> None:
    shard = ParameterShard(LAYOUT, 0, 1, _sgd())
    first = shard.pull_dense(-1)
    assert first.values is not None and first.version == 0
    assert shard.pull_dense(0).values is None
    shard.push(_topk(0, 0, 0, [0], [1.0]))
    assert shard.pull_dense(0).values[0] == -1.0


def test_initialize_checkpoints_start_values_and_is_ignored_after_restore(tmp_path) -> None:
    config = ServerConfig(checkpoint_dir=str(tmp_path), checkpoint_every=100)
    start = np.arange(LAYOUT.dense_numel, dtype=np.float32)
    table = np.ones((11, 4), np.float32)
    shard = ParameterShard(LAYOUT, 0, 1, config)
    assert shard.initialize(start, {"user": table})
    assert checkpoint_path(tmp_path, 0, 1).exists()  # a restart now resumes from these values
    restarted = ParameterShard(LAYOUT, 0, 1, config)
    np.testing.assert_array_equal(restarted.params, start)
    assert not restarted.initialize(np.zeros_like(start), None)  # its restored state wins
    np.testing.assert_array_equal(restarted.params, start)
    with pytest.raises(ConfigError, match="initial rows"):
        ParameterShard(LAYOUT, 0, 2, ServerConfig()).initialize(None, {"user": table[:3]})


def _random_updates(rng: np.random.Generator, count: int, workers: int) -> list[ShardUpdate]:
    """Updates from several workers with replays, stale bases, Top-K/full dense and rows."""
    updates, seqs = [], [0] * workers
    for _ in range(count):
        w = int(rng.integers(workers))
        if seqs[w] and rng.random() < 0.2:
            seq = int(rng.integers(seqs[w]))  # a replay of something already sent
        else:
            seq = seqs[w]
            seqs[w] += 1
        base = int(rng.integers(max(1, len(updates))))
        if rng.random() < 0.3:
            dense = DenseGrad(rng.standard_normal(LAYOUT.dense_numel).astype(np.float32))
        else:
            k = int(rng.integers(1, 12))
            idx = rng.choice(LAYOUT.dense_numel, k, replace=False).astype(np.int32)
            dense = DenseGrad(rng.standard_normal(k).astype(np.float16), idx)
        ids = rng.integers(0, 11, int(rng.integers(0, 5)))
        rows = (RowGrads("user", ids, rng.standard_normal((ids.size, 4)).astype(np.float32)),)
        updates.append(ShardUpdate(w, seq, base, dense, rows if ids.size else ()))
    return updates


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    dense_optimizer=st.sampled_from(["sgd", "adam"]),
    row_optimizer=st.sampled_from(["sgd", "adagrad", "adam"]),
    policy=st.sampled_from(["drop", "downweight"]),
    chunks=st.lists(st.integers(1, 6), min_size=1, max_size=8),
)
def test_admit_all_then_apply_equals_sequential_push(
    seed: int, dense_optimizer: str, row_optimizer: str, policy: str, chunks: list[int]
) -> None:
    """Admitting a run of updates before applying them (what the actor's apply thread sees when
    pushes queue up) gives the same verdicts, versions, counters and bit-identical state."""
    config = ServerConfig(
        dense_optimizer=dense_optimizer,
        dense_lr=0.05,
        momentum=0.9 if dense_optimizer == "sgd" else 0.0,
        row_optimizer=row_optimizer,
        max_staleness=2,
        staleness_policy=policy,
    )
    updates = _random_updates(np.random.default_rng(seed), sum(chunks), workers=3)
    sequential = ParameterShard(LAYOUT, 0, 1, config)
    acks_seq = [sequential.push(u) for u in updates]
    queued = ParameterShard(LAYOUT, 0, 1, config)
    acks_q, start = [], 0
    for size in chunks:  # admit a chunk, then apply what is pending, in admission order
        pending = []
        for u in updates[start : start + size]:
            ack, admitted = queued.admit(u)
            acks_q.append(ack)
            if admitted is not None:
                pending.append(admitted)
        assert [a.version for a in pending] == sorted({a.version for a in pending})
        for admitted in pending:
            queued.apply(admitted)
        start += size
    assert acks_q == acks_seq
    np.testing.assert_array_equal(queued.params, sequential.params)
    np.testing.assert_array_equal(queued.tables["user"], sequential.tables["user"])
    m_q, m_s = queued.metrics(), sequential.metrics()
    for key in ("version", "applied", "downweighted", "dropped", "duplicates", "bytes_in"):
        assert getattr(m_q, key) == getattr(m_s, key), key
    np.testing.assert_array_equal(m_q.staleness_hist, m_s.staleness_hist)
    statuses = [a.status for a in acks_seq]
    assert m_s.version == statuses.count("applied") + statuses.count("downweighted")
    assert int(m_s.staleness_hist.sum()) == len(updates) - statuses.count("duplicate")


def test_read_only_payload_buffers_are_applied_without_copies() -> None:
    """Ray maps pushed arrays read-only out of its object store; every path must accept them."""

    def frozen(a: np.ndarray) -> np.ndarray:
        a = np.array(a)
        a.setflags(write=False)
        return a

    for dense_optimizer in ("sgd", "adam"):
        config = ServerConfig(dense_optimizer=dense_optimizer, row_optimizer="adagrad")
        ro, rw = ParameterShard(LAYOUT, 0, 1, config), ParameterShard(LAYOUT, 0, 1, config)
        rng = np.random.default_rng(1)
        idx = np.array([3, 9, 41], np.int32)
        vals = rng.standard_normal(3).astype(np.float32)
        full = rng.standard_normal(LAYOUT.dense_numel).astype(np.float32)
        ids = np.array([2, 7, 2])
        grads = rng.standard_normal((3, 4)).astype(np.float32)
        for shard, wrap in ((ro, frozen), (rw, np.array)):
            shard.push(ShardUpdate(0, 0, 0, DenseGrad(wrap(vals), wrap(idx))))
            shard.push(ShardUpdate(0, 1, 1, DenseGrad(wrap(full.astype(np.float16)))))
            shard.push(ShardUpdate(0, 2, 2, rows=(RowGrads("user", wrap(ids), wrap(grads)),)))
        np.testing.assert_array_equal(ro.params, rw.params)
        np.testing.assert_array_equal(ro.tables["user"], rw.tables["user"])
        assert ro.version == 3


def test_bad_update_is_refused_whole_and_changes_nothing() -> None:
    """A valid dense part with invalid rows must not be half-applied or counted."""
    shard = ParameterShard(LAYOUT, 0, 1, _sgd())
    before = shard.params.copy()
    bad_rows = RowGrads("user", np.array([1, 99]), np.ones((2, 4), np.float32))
    update = ShardUpdate(0, 0, 0, DenseGrad(np.ones(1, np.float32), np.array([0], np.int32)))
    for broken in (
        ShardUpdate(0, 0, 0, update.dense, (bad_rows,)),
        ShardUpdate(0, 0, 0, update.dense, (RowGrads("user", np.array([1]), np.ones((1, 3))),)),
        ShardUpdate(0, 0, 0, DenseGrad(np.ones(2, np.float32), np.array([0, -1], np.int32))),
        ShardUpdate(0, 0, 0, DenseGrad(np.ones(2, np.float32), np.array([0], np.int32))),
        ShardUpdate(0, 0, 0, DenseGrad(np.ones(3, np.float32))),
    ):
        with pytest.raises((IndexError, ValueError)) as err:
            shard.push(broken)
        assert "shard 0" in str(err.value) or "table 'user'" in str(err.value)
    np.testing.assert_array_equal(shard.params, before)
    m = shard.metrics()
    assert (m.version, m.applied, m.bytes_in, int(m.staleness_hist.sum())) == (0, 0, 0, 0)
    assert shard.last_seq == {}
    assert shard.push(update).status == "applied"  # the same seq is still free


def test_out_of_range_message_names_position_and_entry() -> None:
    shard = ParameterShard(LAYOUT, 0, 1, _sgd())
    with pytest.raises(IndexError, match=r"position 57 \(entry 1\) is outside \[0, 57\)"):
        shard.push(_topk(0, 0, 0, [3, 57], [1.0, 1.0]))


def test_apply_thread_applies_in_order_and_surfaces_failures() -> None:
    from dsgraph.distributed.parameter_server import AdmittedUpdate, ApplyThread

    seen: list[int] = []
    applier = ApplyThread(lambda a: seen.append(a.version), depth=3)
    for v in range(1, 40):
        applier.submit(AdmittedUpdate(v, 1.0, None, ()))
    applier.drain()
    assert seen == list(range(1, 40))

    def explode(admitted: AdmittedUpdate) -> None:
        raise MemoryError(f"no room for version {admitted.version}")

    broken = ApplyThread(explode)
    broken.submit(AdmittedUpdate(1, 1.0, None, ()))
    with pytest.raises(RuntimeError, match=r"apply thread failed.*no room for version 1"):
        broken.drain()
    with pytest.raises(RuntimeError, match="restart the shard"):
        broken.submit(AdmittedUpdate(2, 1.0, None, ()))


def test_after_a_failed_apply_pushes_are_refused_before_taking_a_seq_or_version() -> None:
    """Outside Ray the next verb raises; nothing is admitted on top of the suspect state (inside
    a Ray actor the process exits so Ray restarts the shard from its checkpoint)."""
    import time

    from dsgraph.distributed.parameter_server import ApplyThread, ParameterServer

    server = ParameterServer(LAYOUT, 0, 1, _sgd())
    applied = server.state.apply

    def fail_first(admitted) -> None:
        if admitted.version == 1:
            raise MemoryError("no room")
        applied(admitted)

    server.applier = ApplyThread(fail_first, 8)
    server.push(_topk(0, 0, 0, [1], [1.0]))  # admitted (version 1), then its apply fails
    deadline = time.monotonic() + 10
    while server.applier._error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    for seq in (1, 2):
        with pytest.raises(RuntimeError, match="apply thread failed"):
            server.push(_topk(0, seq, 0, [1], [1.0]))
    assert server.state.version == 1 and server.state.last_seq == {0: 0}
    assert not server.state.is_duplicate(0, 1)  # a retry after the restart is still applied


def test_batch_with_one_bad_update_is_refused_whole() -> None:
    shard = ParameterShard(LAYOUT, 0, 1, _sgd())
    good = [_topk(0, s, s, [s], [1.0]) for s in range(3)]
    with pytest.raises(IndexError, match="outside"):
        shard.push_batch([*good, _topk(0, 3, 3, [LAYOUT.dense_numel + 5], [1.0])])
    assert shard.version == 0 and not shard.params.any() and shard.last_seq == {}
    assert [a.status for a in shard.push_batch(good)] == ["applied"] * 3
