"""Precision policy (fp32 / bf16 / fp16 loss scaling) and the fp32 sparse-aggregation wrapper."""

from __future__ import annotations

import io

import pytest
import torch
from torch_geometric.utils import scatter

from dsgraph.capabilities import WITH_CUDA
from dsgraph.errors import ConfigError, DsgraphError
from dsgraph.train.precision import PrecisionPolicy, resolve_mode, sparse_aggregate

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes 2 threads crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_csr(num_dst: int, num_src: int, num_edges: int, seed: int, weighted: bool = True):
    """A random sparse CSR adjacency [num_dst, num_src] and its edge list (src, dst, weight)."""
    gen = torch.Generator().manual_seed(seed)
    dst = torch.randint(0, num_dst, (num_edges,), generator=gen)
    src = torch.randint(0, num_src, (num_edges,), generator=gen)
    key = torch.unique(dst * num_src + src)  # dedupe, sorted by (dst, src)
    dst, src = key // num_src, key % num_src
    w = torch.rand(key.numel(), generator=gen) + 0.5 if weighted else torch.ones(key.numel())
    coo = torch.sparse_coo_tensor(torch.stack([dst, src]), w, (num_dst, num_src))
    return coo.to_sparse_csr(), src, dst, w


# -- modes -------------------------------------------------------------------------------------


def test_resolve_mode():
    assert resolve_mode("auto", CPU) == "bf16"
    assert resolve_mode("auto", torch.device("cuda")) == "fp16"
    assert resolve_mode("fp32", CPU) == "fp32"
    with pytest.raises(ConfigError, match="allowed: fp32, bf16, fp16, auto"):
        resolve_mode("fp8", CPU)


def test_fp16_on_cpu_is_refused_with_advice():
    with pytest.raises(ConfigError, match=r"fp16 needs a CUDA device.*use bf16"):
        PrecisionPolicy("fp16", CPU)


def test_fp32_autocast_is_a_no_op():
    policy = PrecisionPolicy("fp32", CPU)
    with policy.autocast():
        out = torch.randn(4, 4) @ torch.randn(4, 4)
    assert out.dtype == torch.float32 and policy.loss_scale == 1.0


def test_bf16_autocast_runs_matmuls_in_bf16():
    policy = PrecisionPolicy("bf16", CPU)
    with policy.autocast():
        out = torch.randn(4, 4) @ torch.randn(4, 4)
        with policy.fp32():
            out32 = torch.randn(4, 4) @ torch.randn(4, 4)
    assert out.dtype == torch.bfloat16 and out32.dtype == torch.float32


# -- sparse aggregation ------------------------------------------------------------------------


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_aggregate_matches_pyg_scatter(reduce, weighted):
    adj_t, src, dst, w = random_csr(50, 70, 400, seed=1, weighted=weighted)
    x = torch.randn(70, 8, dtype=torch.float64).float()
    out = sparse_aggregate(adj_t, x, reduce)
    messages = x[src] * w.unsqueeze(1)
    expected = scatter(messages, dst, dim=0, dim_size=50, reduce="sum")
    if reduce == "mean":
        count = scatter(torch.ones_like(dst, dtype=torch.float32), dst, dim_size=50, reduce="sum")
        expected = expected / count.clamp(min=1).unsqueeze(1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_sparse_aggregate_under_bf16_autocast_is_fp32_and_differentiable(reduce):
    adj_t, _, _, _ = random_csr(30, 40, 200, seed=2)
    x = torch.randn(40, 6, requires_grad=True)
    lin = torch.nn.Linear(6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = lin(x)  # bf16, as a dense transform inside a model would be
        assert h.dtype == torch.bfloat16
        out = sparse_aggregate(adj_t, h, reduce)
        assert out.dtype == torch.float32
    out.sum().backward()
    # the same computation through a dense adjacency, in fp32
    dense = adj_t.to_dense()
    if reduce == "mean":
        dense = dense / (dense != 0).sum(1, keepdim=True).clamp(min=1)
    x2 = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h2 = lin(x2)
    (dense @ h2.float()).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5)


def test_sparse_aggregate_rejects_bad_input():
    adj_t, _, _, _ = random_csr(5, 6, 10, seed=3)
    with pytest.raises(ValueError, match="shape mismatch"):
        sparse_aggregate(adj_t, torch.randn(7, 2))
    with pytest.raises(TypeError, match="sparse_csr"):
        sparse_aggregate(adj_t.to_dense(), torch.randn(6, 2))
    with pytest.raises(ValueError, match="reduce"):
        sparse_aggregate(adj_t, torch.randn(6, 2), "max")  # type: ignore[arg-type]


class TinyGNN(torch.nn.Module):
    """Two rounds of linear transform + mean aggregation: dense ops bf16, aggregation fp32."""

    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(dim, 32)
        self.lin2 = torch.nn.Linear(32, classes)

    def forward(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(sparse_aggregate(adj_t, self.lin1(x), "mean"))
        return sparse_aggregate(adj_t, self.lin2(h), "mean")


def test_bf16_forward_and_gradients_close_to_fp32():
    torch.manual_seed(0)
    adj_t, _, _, _ = random_csr(200, 200, 2000, seed=4)
    x = torch.randn(200, 16)
    y = torch.randint(0, 4, (200,))
    model = TinyGNN(16, 4)
    results = {}
    for mode in ("fp32", "bf16"):
        policy = PrecisionPolicy(mode, CPU)
        model.zero_grad()
        with policy.autocast():
            logits = model(adj_t, x)
            with policy.fp32():
                loss = torch.nn.functional.cross_entropy(logits.float(), y)
        policy.scale(loss).backward()
        results[mode] = (logits.float().detach(), loss.item(), model.lin1.weight.grad.clone())
    (l32, loss32, g32), (l16, loss16, g16) = results["fp32"], results["bf16"]
    assert l16.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: relative error of ~1e-2 is expected, not more
    assert (l16 - l32).norm() / l32.norm() < 2e-2
    assert abs(loss16 - loss32) < 1e-2 * abs(loss32)
    assert (g16 - g32).norm() / g32.norm() < 5e-2
    assert not torch.equal(l16, l32)  # autocast really ran in bf16


# -- the step protocol -------------------------------------------------------------------------


def _model_and_opt(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(8, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_finite_step_applies_and_non_finite_step_is_skipped(mode):
    policy = PrecisionPolicy(mode, CPU)
    model, opt = _model_and_opt()
    x = torch.randn(4, 8)
    with policy.autocast():
        loss = model(x).float().pow(2).mean()
    policy.scale(loss).backward()
    before = model.weight.detach().clone()
    assert policy.step(opt) is True
    policy.update()
    assert not torch.equal(model.weight, before)
    opt.zero_grad()
    with policy.autocast():
        loss = model(x).float().pow(2).mean() * float("inf")
    policy.scale(loss).backward()
    before = model.weight.detach().clone()
    assert policy.unscale_(opt) is False
    assert policy.step(opt) is False
    policy.update()
    assert torch.equal(model.weight, before)
    assert policy.loss_scale == 1.0


def test_unscale_twice_in_one_step_is_an_error():
    policy = PrecisionPolicy("bf16", CPU)
    model, opt = _model_and_opt()
    model(torch.randn(2, 8)).sum().backward()
    policy.unscale_(opt)
    with pytest.raises(RuntimeError, match="already called"):
        policy.unscale_(opt)
    policy.step(opt)
    policy.update()
    policy.unscale_(opt)  # a new step may unscale again


def test_force_fp32_window_counts_steps():
    policy = PrecisionPolicy("bf16", CPU)
    policy.force_fp32(3)
    policy.force_fp32(1)  # never shortens a window
    dtypes = []
    for _ in range(5):
        with policy.autocast():
            dtypes.append((torch.ones(2, 2) @ torch.ones(2, 2)).dtype)
        policy.update()
    assert dtypes == [torch.float32] * 3 + [torch.bfloat16] * 2
    assert policy.fp32_steps_remaining == 0
    with pytest.raises(ValueError):
        policy.force_fp32(-1)


def test_backoff_is_a_no_op_without_loss_scaling():
    policy = PrecisionPolicy("bf16", CPU)
    policy.backoff()
    assert policy.loss_scale == 1.0


def test_state_dict_round_trip_and_mode_check():
    policy = PrecisionPolicy("bf16", CPU)
    policy.force_fp32(7)
    buf = io.BytesIO()
    torch.save(policy.state_dict(), buf)
    buf.seek(0)
    restored = PrecisionPolicy("bf16", CPU)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    assert restored.fp32_steps_remaining == 7
    with pytest.raises(ConfigError, match="mode 'bf16'"):
        PrecisionPolicy("fp32", CPU).load_state_dict(policy.state_dict())
    assert "bf16" in repr(policy)
    assert policy.log_stats() == {"loss_scale": 1.0, "fp32_forced": 1.0}


# -- fp16 dynamic loss scaling (the CUDA path's logic, exercised on CPU) -----------------------


def fp16_policy(**kwargs) -> PrecisionPolicy:
    return PrecisionPolicy("fp16", CPU, allow_cpu_fp16=True, **kwargs)


def test_fp16_scales_the_loss_and_unscales_the_gradients():
    policy = fp16_policy(init_scale=1024.0)
    model, opt = _model_and_opt()
    x = torch.randn(4, 8)
    with policy.autocast():
        out = model(x)
        assert out.dtype == torch.float16
        loss = out.float().pow(2).mean()
    scaled = policy.scale(loss)
    assert scaled.item() == pytest.approx(loss.item() * 1024, rel=1e-6)
    scaled.backward()
    raw = model.weight.grad.clone()
    assert policy.unscale_(opt)
    torch.testing.assert_close(model.weight.grad, raw / 1024)
    assert policy.step(opt) is True
    policy.update()
    assert policy.loss_scale == 1024.0


def test_fp16_overflow_skips_the_step_and_halves_the_scale():
    policy = fp16_policy(init_scale=2.0**16)
    model, opt = _model_and_opt()
    with policy.autocast():
        loss = model(torch.randn(4, 8)).float().sum() * float("inf")
    policy.scale(loss).backward()
    before = model.weight.detach().clone()
    assert policy.step(opt) is False
    policy.update()
    assert torch.equal(model.weight, before)
    assert policy.loss_scale == 2.0**15


def test_fp16_scale_grows_after_clean_interval_and_backs_off_on_request():
    policy = fp16_policy(init_scale=8.0, growth_interval=3)
    model, opt = _model_and_opt()
    policy.backoff()  # before the first step: applied to the initial scale
    assert policy.loss_scale == 4.0
    for _ in range(3):
        opt.zero_grad()
        policy.scale(model(torch.randn(2, 8)).sum()).backward()
        assert policy.step(opt)
        policy.update()
    assert policy.loss_scale == 8.0
    policy.backoff()
    assert policy.loss_scale == 4.0
    state = policy.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    restored = fp16_policy()
    restored.load_state_dict(torch.load(buf, weights_only=True))
    assert restored.loss_scale == 4.0


@pytest.mark.skipif(not WITH_CUDA, reason="needs a CUDA device")
def test_auto_on_cuda_uses_fp16_with_grad_scaler():
    policy = PrecisionPolicy("auto", torch.device("cuda"))
    assert policy.mode == "fp16" and policy.loss_scale == 2.0**16
    model = torch.nn.Linear(8, 2).cuda()
    with policy.autocast():
        assert model(torch.randn(2, 8, device="cuda")).dtype == torch.float16


def test_config_errors_are_dsgraph_errors():
    with pytest.raises(DsgraphError):
        PrecisionPolicy("fp16", CPU)


def test_sparse_aggregate_gradient_is_exact_in_fp64():
    adj_t, _, _, _ = random_csr(6, 5, 14, seed=5)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    for reduce in ("sum", "mean"):
        assert sparse_aggregate(adj_t, x, reduce).dtype == torch.float64
        assert torch.autograd.gradcheck(lambda v, r=reduce: sparse_aggregate(adj_t, v, r), (x,))
