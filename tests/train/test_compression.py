"""Top-K compression with error feedback: selection, payloads, memory, convergence."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.train.compression import (
    ErrorFeedback,
    GradientCompression,
    TopKCompressor,
    TopKPayload,
    accumulate_topk_sampled,
    topk_exact,
    topk_sampled,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes 2 threads crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reference_topk(x: np.ndarray, k: int) -> np.ndarray:
    """k largest non-zero |x|, ties to the lower index, ascending: by a full stable sort."""
    order = np.lexsort((np.arange(x.size), -np.abs(x)))
    order = order[np.abs(x[order]) > 0]
    return np.sort(order[:k])


def make_array(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "cauchy":  # heavy tails, as gradients of embeddings often are
        return rng.standard_cauchy(n).astype(np.float32)
    if kind == "sparse":  # mostly zeros: k may exceed the non-zeros
        x = rng.standard_normal(n).astype(np.float32)
        x[rng.random(n) < 0.97] = 0.0
        return x
    if kind == "ties":  # few distinct magnitudes, many exact ties at the k-th value
        return rng.integers(-4, 5, n).astype(np.float32)
    if kind == "scaled":  # a block of large entries at the end (structured gradients)
        x = rng.standard_normal(n).astype(np.float32) * 1e-4
        x[-n // 10 :] *= 1e4
        return x
    raise AssertionError(kind)


KINDS = ["normal", "cauchy", "sparse", "ties", "scaled"]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(1, 3000),
    ratio=st.floats(0.0005, 1.0),
    seed=st.integers(0, 2**16),
)
def test_exact_path_picks_the_true_largest_entries(kind, n, ratio, seed):
    x = make_array(kind, n, seed)
    k = max(1, math.ceil(ratio * n))
    idx, vals = topk_exact(x, k)
    assert idx.dtype == np.int32
    assert np.array_equal(idx, reference_topk(x, k))
    assert np.array_equal(vals, x[idx])


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(20_000, 120_000),
    ratio=st.sampled_from([0.001, 0.01, 0.05, 0.2]),
    seed=st.integers(0, 2**16),
)
def test_sampled_path_returns_the_exact_top_k(kind, n, ratio, seed):
    x = make_array(kind, n, seed)
    compressor = TopKCompressor(ratio, exact_below=0, seed=seed)
    payload = compressor.compress("w", torch.from_numpy(x))
    k = math.ceil(ratio * n)
    assert payload.values.size == min(k, np.count_nonzero(x))
    assert np.array_equal(payload.indices, reference_topk(x, k))
    assert np.array_equal(payload.values, x[payload.indices])


@pytest.mark.parametrize("ratio", [0.01, 0.05])
def test_sampled_path_decides_without_falling_back_on_gradient_like_data(ratio):
    n = 2_000_000
    x = make_array("normal", n, 3) * np.linspace(0.1, 3.0, n, dtype=np.float32)
    k = math.ceil(ratio * n)
    positions = TopKCompressor(ratio).sample_positions(n)
    assert positions.size == n // 100
    picked = topk_sampled(x, k, positions)
    assert picked is not None, "the fast path fell back to the exact partition"
    idx, _ = picked
    assert idx.size == k
    exact_idx, _ = topk_exact(x, k)
    assert np.array_equal(idx, exact_idx)


def test_sampled_path_gives_up_on_mostly_zero_input():
    x = np.zeros(50_000, np.float32)
    x[:10] = 1.0
    assert topk_sampled(x, 500, np.arange(0, 50_000, 5)) is None


def test_zeros_are_never_sent():
    x = np.zeros(5000, np.float32)
    x[[7, 4000, 4999]] = [1.0, -2.0, 0.5]
    idx, vals = topk_exact(x, 100)
    assert idx.tolist() == [7, 4000, 4999] and vals.tolist() == [1.0, -2.0, 0.5]
    payload = TopKCompressor(0.02, exact_below=0).compress("emb", torch.from_numpy(x))
    assert payload.indices.tolist() == [7, 4000, 4999] and payload.nbytes == 3 * 8
    assert topk_exact(np.zeros(10, np.float32), 3)[0].size == 0


def test_nan_entries_are_never_selected():
    x = np.array([np.nan, 1.0, -3.0, np.nan, 2.0], np.float32)
    idx, _ = topk_exact(x, 2)
    assert idx.tolist() == [2, 4]


@pytest.mark.parametrize("value_dtype,value_bytes", [("fp32", 4), ("fp16", 2)])
def test_payload_round_trip_and_wire_size(value_dtype, value_bytes):
    t = torch.randn(64, 50)
    payload = TopKCompressor(0.1, value_dtype).compress("layer.weight", t)
    k = 320
    assert payload.shape == (64, 50) and payload.numel == 3200 and payload.name == "layer.weight"
    assert payload.indices.dtype == np.int32 and np.all(np.diff(payload.indices) > 0)
    assert payload.values.dtype == (np.float16 if value_dtype == "fp16" else np.float32)
    assert payload.nbytes == k * (4 + value_bytes)
    dense = TopKCompressor().decompress(payload)
    assert dense.dtype == torch.float32 and dense.shape == t.shape
    flat = dense.view(-1)
    mask = torch.zeros(3200, dtype=torch.bool)
    mask[torch.from_numpy(payload.indices).long()] = True
    assert torch.all(flat[~mask] == 0)
    tol = 1e-3 if value_dtype == "fp16" else 0.0
    torch.testing.assert_close(flat[mask], t.view(-1)[mask], rtol=tol, atol=tol)
    # everything not sent is no larger than anything sent
    assert t.view(-1)[~mask].abs().max() <= t.view(-1)[mask].abs().min()


def test_dense_payload_has_no_indices():
    t = torch.arange(6, dtype=torch.float32).view(2, 3)
    payload = TopKCompressor(value_dtype="fp16").dense_payload("bias", t)
    assert payload.dense and payload.indices is None
    assert payload.nbytes == 6 * 2 and payload.dense_nbytes == 24
    assert np.array_equal(payload.flat_indices(), np.arange(6))
    assert torch.equal(TopKCompressor().decompress(payload), t)
    # ratio 1 means dense as well
    assert TopKCompressor(1.0).compress("b", t).dense


def test_fp16_values_are_clipped_not_infinite():
    t = torch.tensor([1e6, -1e6, 1.0, 0.5] * 300)
    payload = TopKCompressor(0.5, "fp16").compress("big", t)
    assert np.isfinite(payload.values).all()
    assert np.abs(payload.values).max() == np.float16(65504)


def test_compression_is_deterministic():
    t = torch.randn(1_200_000)
    a = TopKCompressor(0.01, exact_below=1000, seed=7).compress("w", t)
    b = TopKCompressor(0.01, exact_below=1000, seed=7).compress("w", t)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.values, b.values)


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="ratio"):
        TopKCompressor(0.0)
    with pytest.raises(ValueError, match="value_dtype"):
        TopKCompressor(0.1, "bf16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="momentum"):
        GradientCompression(momentum=0.9, error_feedback=False)


# -- error feedback ----------------------------------------------------------------------------


@pytest.mark.parametrize("value_dtype", ["fp32", "fp16"])
def test_error_feedback_transmitted_plus_residual_equals_true_gradients(value_dtype):
    """Sum of sent updates tracks the sum of true gradients: the gap is exactly the residual."""
    gen = torch.Generator().manual_seed(0)
    compressor = TopKCompressor(0.02, value_dtype)
    memory = ErrorFeedback()
    true_sum = torch.zeros(4000, dtype=torch.float64)
    sent_sum = torch.zeros(4000, dtype=torch.float64)
    grad_norms, residual_norms = [], []
    for _ in range(300):
        # a persistent direction plus noise, like real gradients
        grad = torch.randn(4000, generator=gen) * 0.5 + torch.linspace(-1, 1, 4000)
        compensated = memory.compensate("w", grad)
        payload = compressor.compress("w", compensated)
        memory.update("w", compensated, payload)
        true_sum += grad.double()
        sent_sum += compressor.decompress(payload).double()
        grad_norms.append(float(grad.norm()))
        residual_norms.append(float(memory.residuals["w"].norm()))
    torch.testing.assert_close(
        true_sum - sent_sum, memory.residuals["w"].double(), rtol=1e-4, atol=1e-3
    )
    # bounded: the residual stops growing (top-k with memory is a contraction)
    assert np.mean(residual_norms[200:]) < 1.3 * np.mean(residual_norms[50:150])
    assert max(residual_norms) < 4 / 0.02 * max(grad_norms)
    # what is still owed is a small part of the total (without memory ~98% would be lost)
    assert memory.residuals["w"].norm() < 0.1 * true_sum.norm()


def test_momentum_correction_masks_sent_positions():
    memory = ErrorFeedback(momentum=0.9)
    compressor = TopKCompressor(0.25)
    grad = torch.tensor([4.0, 1.0, 0.5, 0.1])
    comp = memory.compensate("w", grad)
    torch.testing.assert_close(comp, grad)
    payload = compressor.compress("w", comp)
    memory.update("w", comp, payload)
    assert payload.indices.tolist() == [0]
    torch.testing.assert_close(memory.velocities["w"], torch.tensor([0.0, 1.0, 0.5, 0.1]))
    torch.testing.assert_close(memory.residuals["w"], torch.tensor([0.0, 1.0, 0.5, 0.1]))
    comp2 = memory.compensate("w", grad)
    # u = 0.9 u + g; compensated = u + residual
    expected_u = torch.tensor([4.0, 1.9, 0.95, 0.19])
    torch.testing.assert_close(comp2, expected_u + torch.tensor([0.0, 1.0, 0.5, 0.1]))


# -- the trainer glue --------------------------------------------------------------------------


def _linear_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.ReLU(), torch.nn.Linear(48, 3))


def _backward(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 64, generator=gen)
    model.zero_grad()
    model(x).pow(2).mean().backward()


def test_compress_model_replaces_grads_and_reports_bytes():
    model = _linear_model()
    _backward(model, 1)
    true_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    comp = GradientCompression(ratio=0.1, min_numel=1024)
    result = comp.compress_model(model.named_parameters(), step=0)
    assert not result.skipped
    names = [p.name for p in result.payloads]
    assert names == [n for n, _ in model.named_parameters()]
    by_name = {p.name: p for p in result.payloads}
    assert not by_name["0.weight"].dense  # 3072 entries: Top-K
    assert by_name["0.bias"].dense and by_name["2.weight"].dense  # 48 and 144 entries: dense
    for name, p in model.named_parameters():
        payload = by_name[name]
        torch.testing.assert_close(p.grad, comp.compressor.decompress(payload))
        if payload.dense:
            torch.testing.assert_close(p.grad, true_grads[name])
    k = math.ceil(0.1 * 3072)
    dense_numel = sum(p.numel() for p in model.parameters())
    assert result.dense_bytes == 4 * dense_numel
    assert result.bytes_sent == 8 * k + 4 * (dense_numel - 3072)
    assert result.ratio == pytest.approx(result.bytes_sent / result.dense_bytes)
    stats = result.log_stats()
    assert stats["compression/k_ratio"] == 0.1 and stats["compression/seconds"] >= 0
    assert stats["compression/residual_norm"] > 0


def test_warmup_decays_from_dense_to_target():
    comp = GradientCompression(ratio=0.01, warmup_steps=100)
    ratios = [comp.ratio_at(s) for s in range(0, 130, 10)]
    assert ratios[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(ratios[:11]))
    assert ratios[10:] == [0.01, 0.01, 0.01]
    model = _linear_model()
    _backward(model, 2)
    result = comp.compress_model(model.named_parameters(), step=0)
    assert all(p.dense for p in result.payloads) and result.density == 1.0


def test_non_finite_gradients_skip_compression_and_keep_state():
    model = _linear_model()
    comp = GradientCompression(ratio=0.1, min_numel=16)
    _backward(model, 3)
    comp.compress_model(model.named_parameters(), step=0)
    residuals = {k: v.clone() for k, v in comp.memory.residuals.items()}
    _backward(model, 4)
    model[0].weight.grad[0, 0] = float("nan")
    before = {n: p.grad.clone() for n, p in model.named_parameters()}
    result = comp.compress_model(model.named_parameters(), step=1)
    assert result.skipped and result.payloads == []
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, before[name], equal_nan=True)
    for name, r in comp.memory.residuals.items():
        assert torch.equal(r, residuals[name])


def test_sparse_gradients_are_left_alone():
    emb = torch.nn.Embedding(100, 16, sparse=True)
    emb(torch.tensor([1, 2, 3])).sum().backward()
    result = GradientCompression(ratio=0.1).compress_model(emb.named_parameters(), step=0)
    assert result.payloads == [] and emb.weight.grad.is_sparse


def test_state_round_trip_through_weights_only_load():
    model_a, model_b = _linear_model(), _linear_model()
    comp_a = GradientCompression(ratio=0.05, momentum=0.9, min_numel=16, value_dtype="fp16")
    for s in range(3):
        _backward(model_a, s)
        comp_a.compress_model(model_a.named_parameters(), step=s)
    buf = io.BytesIO()
    torch.save(comp_a.state_dict(), buf)
    buf.seek(0)
    comp_b = GradientCompression(ratio=0.05, momentum=0.9, min_numel=16, value_dtype="fp16")
    comp_b.load_state_dict(torch.load(buf, weights_only=True))
    for model, comp in ((model_a, comp_a), (model_b, comp_b)):
        _backward(model, 10)
        comp.compress_model(model.named_parameters(), step=3)
    for (_, pa), (_, pb) in zip(
        model_a.named_parameters(), model_b.named_parameters(), strict=True
    ):
        assert torch.equal(pa.grad, pb.grad)
    with pytest.raises(ValueError, match="error_feedback"):
        GradientCompression(error_feedback=False).load_state_dict(comp_a.state_dict())


def _least_squares_run(compression: GradientCompression | None, steps: int = 300) -> float:
    """Full-batch gradient descent on ||A w − b||² / m; returns the final loss."""
    gen = torch.Generator().manual_seed(0)
    m, d = 300, 1200
    a = torch.randn(m, d, generator=gen) / math.sqrt(d)
    w_true = torch.randn(d, generator=gen)
    b = a @ w_true
    w = torch.nn.Parameter(torch.zeros(d))
    opt = torch.optim.SGD([w], lr=0.5 * m / 4)
    a_t = a.T.contiguous()
    for step in range(steps):
        with torch.no_grad():  # the gradient in closed form: autograd would only add time
            w.grad = (2.0 / m) * (a_t @ (a @ w - b))
        if compression is not None:
            compression.compress_model([("w", w)], step)
        opt.step()
    with torch.no_grad():
        return float((a @ w - b).pow(2).mean())


def test_convergence_on_least_squares_with_and_without_error_feedback():
    start = _least_squares_run(None, steps=0)
    dense = _least_squares_run(None)
    with_ef = {r: _least_squares_run(GradientCompression(ratio=r)) for r in (0.05, 0.01)}
    without_ef = {
        r: _least_squares_run(GradientCompression(ratio=r, error_feedback=False))
        for r in (0.05, 0.01)
    }
    assert dense < 0.02 * start
    for r in (0.05, 0.01):
        # error feedback: converges, and beats dropping what was not sent
        assert with_ef[r] < 0.1 * start, (r, with_ef[r], start)
        assert with_ef[r] < without_ef[r], (r, with_ef[r], without_ef[r])
    assert with_ef[0.05] < 3 * dense + 1e-3 * start


def test_payload_is_frozen():
    payload = TopKPayload("w", (2,), 2, None, np.ones(2, np.float32))
    with pytest.raises(AttributeError):
        payload.name = "x"  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(
    numel=st.integers(1, 5000),
    ratio=st.floats(0.001, 1.0),
    steps=st.integers(1, 12),
    value_dtype=st.sampled_from(["fp32", "fp16"]),
    seed=st.integers(0, 2**16),
)
def test_nothing_is_lost_sent_plus_residual_is_all_gradient(numel, ratio, steps, value_dtype, seed):
    """For any sizes and ratios: Σ sent + residual = Σ grads, and p.grad is what was sent."""
    gen = torch.Generator().manual_seed(seed)
    param = torch.nn.Parameter(torch.zeros(numel))
    comp = GradientCompression(ratio=ratio, value_dtype=value_dtype, min_numel=64, seed=seed)
    true_sum = torch.zeros(numel, dtype=torch.float64)
    sent_sum = torch.zeros(numel, dtype=torch.float64)
    for step in range(steps):
        grad = torch.randn(numel, generator=gen) * float(torch.rand(1, generator=gen) * 10)
        param.grad = grad.clone()
        result = comp.compress_model([("w", param)], step)
        (payload,) = result.payloads
        expected_k = numel if (numel < 64 or payload.dense) else math.ceil(ratio * numel)
        assert payload.values.size == expected_k
        torch.testing.assert_close(param.grad, comp.compressor.decompress(payload))
        true_sum += grad.double()
        sent_sum += param.grad.double()
    scale = float(true_sum.abs().max()) + 1.0
    gap = (true_sum - sent_sum - comp.memory.residuals["w"].double()).abs().max()
    assert gap <= 1e-5 * scale * steps


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value_dtype", ["fp32", "fp16"])
def test_fused_error_feedback_path_equals_compensate_compress_update(kind, value_dtype):
    """Large fp32 grads take a fused add+select pass; it must equal the three-step path exactly."""
    n, ratio = 30_000, 0.02
    fused = GradientCompression(ratio=ratio, value_dtype=value_dtype, exact_below=0, seed=3)
    compressor = TopKCompressor(ratio, value_dtype, exact_below=0, seed=3)
    memory = ErrorFeedback()
    param = torch.nn.Parameter(torch.zeros(n))
    assert fused._fusable(torch.zeros(n), ratio)
    for step in range(4):
        grad = torch.from_numpy(make_array(kind, n, seed=step))
        param.grad = grad.clone()
        (payload,) = fused.compress_model([("w", param)], step).payloads
        compensated = memory.compensate("w", grad)
        expected = compressor.compress("w", compensated)
        memory.update("w", compensated, expected)
        assert np.array_equal(payload.indices, expected.indices)
        assert np.array_equal(payload.values, expected.values)
        assert torch.equal(fused.memory.residuals["w"], memory.residuals["w"])
        assert torch.equal(param.grad, compressor.decompress(expected))


def test_fused_scan_decides_on_gradient_like_data_and_always_adds():
    grad = make_array("normal", 200_000, 1)
    residual = make_array("cauchy", 200_000, 2) * 0.01
    expected_sum = residual + grad
    positions = TopKCompressor(0.05, exact_below=0).sample_positions(grad.size)
    picked = accumulate_topk_sampled(grad, residual, 10_000, positions)
    assert picked is not None
    assert np.array_equal(residual, expected_sum)
    assert np.array_equal(picked[0], reference_topk(expected_sum, 10_000))
    # undecidable (every entry ties): still adds, and says so
    zeros = np.zeros(50_000, np.float32)
    ones = np.ones(50_000, np.float32)
    assert accumulate_topk_sampled(ones, zeros, 10, np.arange(0, 50_000, 7)) is None
    assert np.array_equal(zeros, ones)
