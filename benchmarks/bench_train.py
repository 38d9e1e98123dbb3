"""Training-step throughput and where the step time goes.

Three measurements, each a median over steps (after warm-up) in one run:

1. ``recommender``: the default example (LightGCN, full graph, bf16, Top-K 5%) on its generated
   user–item data; variants fp32/bf16 × Top-K on/off. Shares of step time in sampling, forward,
   backward, compression, optimizer.
2. ``rmat-nc``: node classification (GraphSAGE, neighbour sampling [10, 10], batch 1024) on an
   R-MAT graph with 128-d features: 2^17 nodes by default, 2^20 (1M) with ``--large``.
3. ``sage-100k``: one full-graph 2-layer SAGEConv training step on 100k nodes / 2M edges /
   128 features: dsgraph fp32 and bf16 vs PyG SAGEConv on ``edge_index`` and on a CSR ``adj_t``.
   Issue targets: dsgraph fp32 ≤ 0.5 s, mixed precision ≤ 0.4 s (2 threads).

Run: ``flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_train.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report, time_median

PHASES = ("sample", "forward", "backward", "compression", "optimizer")
REPO = Path(__file__).resolve().parents[1]


def phase_row(name: str, trainer, steps: int, warmup: int) -> dict:
    """Run ``steps`` steps of ``trainer`` (without evaluation) and summarise phase medians."""
    task, stepper, opt = trainer.task, trainer.stepper, trainer.optimizer
    nb = task.num_batches()
    per_phase = {k: [] for k in PHASES}
    totals = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        batch = task.batch(*divmod(i, nb))
        t_sample = time.perf_counter() - t0
        out = stepper.compute(batch, i, opt)
        stepper.apply(opt)
        total = time.perf_counter() - t0
        if i >= warmup:
            out.timings["sample"] = t_sample
            for k in PHASES:
                per_phase[k].append(out.timings.get(k, 0.0))
            totals.append(total)
    med = statistics.median(totals)
    row = {"case": name, "steps": steps, "step_s": med, "steps_per_s": 1.0 / med}
    mean_total = sum(totals) / len(totals)
    for k in PHASES:
        row[f"{k}_%"] = 100.0 * (sum(per_phase[k]) / len(per_phase[k])) / mean_total
    return row


def bench_recommender(args: argparse.Namespace, tmp: Path) -> list[dict]:
    from dsgraph.config import load_config
    from dsgraph.datasets import generate_user_item
    from dsgraph.train.trainer import Trainer

    base = load_config(REPO / "examples" / "recommender.yaml")
    gen = base.data.generate
    data = generate_user_item(tmp / "ui", gen.num_users, gen.num_items, seed=gen.seed)
    rows = []
    for precision in ("fp32", "bf16"):
        for topk in (False, True):
            cfg = load_config(
                REPO / "examples" / "recommender.yaml",
                [
                    f"data.path={data}",
                    f"train.precision={precision}",
                    f"train.compression.enabled={str(topk).lower()}",
                    f"train.threads={args.threads}",
                ],
            )
            trainer = Trainer(cfg, tmp / f"rec-{precision}-{topk}", progress=False)
            name = f"recommender {precision}{' top-k 5%' if topk else ''}"
            rows.append(phase_row(name, trainer, args.steps, 3))
    return rows


def rmat_dataset(scale: int, feature_dim: int = 128, seed: int = 0) -> types.SimpleNamespace:
    """An in-memory R-MAT node-classification dataset (features and labels random, seeded)."""
    from dsgraph.datasets import rmat_edges
    from dsgraph.graph import CSRGraph

    src, dst = rmat_edges(scale, seed=seed)
    n = 2**scale
    graph = CSRGraph.from_edges(src, dst, n, symmetrize=True, drop_self_loops=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    split = rng.choice(np.array([1, 2, 3, 0], dtype=np.int8), n, p=[0.1, 0.05, 0.05, 0.8])
    feats = torch.from_numpy(rng.standard_normal((n, feature_dim), dtype=np.float32))
    meta = types.SimpleNamespace(num_classes=10)
    return types.SimpleNamespace(
        graph=graph,
        features=feats,
        labels=labels,
        split=split,
        meta=meta,
        path=f"rmat-{scale}",
        node_type=None,
    )


def bench_rmat(args: argparse.Namespace, tmp: Path) -> list[dict]:
    from dsgraph.config import config_from_dict
    from dsgraph.train.trainer import Trainer

    ds = rmat_dataset(args.rmat_scale)
    rows = []
    for precision in ("fp32", "bf16"):
        cfg = config_from_dict(
            {
                "version": 1,
                "data": {"path": "in-memory"},
                "sampler": {"kind": "neighbor", "fanouts": [10, 10]},
                "model": {"name": "graphsage", "hidden_dim": 128, "num_layers": 2},
                "task": {"kind": "node_classification"},
                "train": {
                    "batch_size": 1024,
                    "lr": 0.01,
                    "precision": precision,
                    "threads": args.threads,
                },
            }
        )
        trainer = Trainer(cfg, tmp / f"rmat-{precision}", progress=False, dataset=ds)
        name = f"rmat 2^{args.rmat_scale} nodes, {ds.graph.num_edges:,} edges, {precision}"
        rows.append(phase_row(name, trainer, args.steps, 3))
    return rows


def bench_sage(args: argparse.Namespace) -> list[dict]:
    from torch_geometric.nn import SAGEConv

    from dsgraph.config import config_from_dict
    from dsgraph.graph import CSRGraph
    from dsgraph.tasks.node_classification import NodeClassificationTask
    from dsgraph.train.trainer import build_components

    n, m, f, classes = args.sage_nodes, args.sage_edges, 128, 16
    rng = np.random.default_rng(0)
    graph = CSRGraph.from_edges(rng.integers(0, n, m), rng.integers(0, n, m), n, dedupe=True)
    x = torch.from_numpy(rng.standard_normal((n, f), dtype=np.float32))
    labels = rng.integers(0, classes, n)
    split = np.ones(n, dtype=np.int8)
    rows = []
    for precision in ("fp32", "bf16"):
        cfg = config_from_dict(
            {
                "version": 1,
                "data": {"path": "in-memory"},
                "model": {"name": "graphsage", "hidden_dim": 128, "num_layers": 2},
                "task": {"kind": "node_classification"},
                "train": {"batch_size": n, "precision": precision, "threads": args.threads},
            }
        )
        task = NodeClassificationTask(graph, x, labels, split, cfg, num_classes=classes)
        parts = build_components(cfg, task, torch.device("cpu"))
        from dsgraph.train.step import TrainStep

        stepper = TrainStep(parts["model"], task, parts["precision"])
        batch = task.batch(0, 0)
        opt = parts["optimizer"]

        def step(stepper=stepper, batch=batch, opt=opt) -> None:
            stepper.compute(batch, 0, opt)
            stepper.apply(opt)

        med, times = time_median(step, repeats=args.repeats, warmup=1)
        rows.append(
            {
                "case": f"dsgraph GraphSAGE {precision} (CSR adj_t)",
                "step_s": med,
                "runs_s": [round(t, 4) for t in times],
            }
        )

    # PyG's own SAGEConv, same sizes, on edge_index and on a torch.sparse_csr adj_t.
    torch.manual_seed(0)
    convs = torch.nn.ModuleList([SAGEConv(f, 128), SAGEConv(128, classes)])
    opt = torch.optim.Adam(convs.parameters(), lr=0.01)
    y = torch.from_numpy(labels)
    edge_index = graph.edge_index()
    adj_t = graph.adj_t()
    for name, structure in (("edge_index", edge_index), ("CSR adj_t", adj_t)):

        def pyg_step(structure=structure) -> None:
            opt.zero_grad()
            h = torch.relu(convs[0](x, structure))
            loss = torch.nn.functional.cross_entropy(convs[1](h, structure), y)
            loss.backward()
            opt.step()

        med, times = time_median(pyg_step, repeats=args.repeats, warmup=1)
        rows.append(
            {
                "case": f"PyG SAGEConv fp32 ({name})",
                "step_s": med,
                "runs_s": [round(t, 4) for t in times],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--large", action="store_true", help="1M-node R-MAT (2^20)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.steps = 5 if args.quick else 30
    args.repeats = 3 if args.quick else 5
    args.rmat_scale = 20 if args.large else (13 if args.quick else 17)
    args.sage_nodes, args.sage_edges = (10_000, 200_000) if args.quick else (100_000, 2_000_000)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="dsgraph-bench-train-") as tmp_name:
        tmp = Path(tmp_name)
        rows = bench_recommender(args, tmp) + bench_rmat(args, tmp) + bench_sage(args)
    report(
        "bench_train" + ("_quick" if args.quick else ""),
        rows,
        "training step: throughput and time shares",
        extra={
            "threads": args.threads,
            "quick": args.quick,
            "large": args.large,
            "targets": {
                "sampling_share_max_%": 15,
                "compression_share_max_%": 10,
                "sage_100k_fp32_step_max_s": 0.5,
                "sage_100k_mixed_step_max_s": 0.4,
                "bf16_step_le_fp32": True,
            },
        },
    )


if __name__ == "__main__":
    main()
