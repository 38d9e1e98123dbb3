"""GraphSAGE mini-batch training on Cora with PyG's NodeLoader driven by dsgraph's sampler.

No pyg-lib or torch-sparse: ``samplers.pyg.DsgraphSampler`` does the fan-out sampling (Numba)
and PyG's ``NodeLoader`` turns each sample into an ordinary ``Data`` mini-batch.

    .venv/bin/python examples/pyg_neighbor_loader_cora.py [--raw-dir DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.io import read_planetoid_data
from torch_geometric.loader import NodeLoader
from torch_geometric.nn import GraphSAGE

from samplers.pyg import DsgraphSampler

DEFAULT_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid" / "Cora" / "raw"


def load_cora(raw_dir: Path) -> Data:
    """Cora's Planetoid split (2,708 nodes, 10,556 directed edges, 140 training nodes)."""
    return read_planetoid_data(str(raw_dir), "cora")


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: NodeLoader) -> float:
    """Accuracy over the loader's seed nodes."""
    model.eval()
    correct = total = 0
    for batch in loader:
        out = model(batch.x, batch.edge_index)[: batch.batch_size]
        correct += int((out.argmax(-1) == batch.y[: batch.batch_size]).sum())
        total += batch.batch_size
    return correct / total


def train_cora(
    raw_dir: Path = DEFAULT_RAW,
    *,
    epochs: int = 30,
    fanouts: tuple[int, ...] = (10, 10),
    batch_size: int = 32,
    seed: int = 0,
    log: bool = True,
) -> dict[str, float]:
    """Train a 2-layer GraphSAGE with sampled mini-batches; returns best-val/test accuracy."""
    torch.manual_seed(seed)
    data = load_cora(raw_dir)
    sampler = DsgraphSampler(data, list(fanouts), seed=seed)
    train_idx = data.train_mask.nonzero().view(-1)
    train_loader = NodeLoader(
        data, node_sampler=sampler, input_nodes=train_idx, batch_size=batch_size, shuffle=True
    )
    # Evaluation takes every in-neighbour (fan-out −1): exact 2-hop aggregation.
    full = DsgraphSampler(data, [-1] * len(fanouts), seed=seed)
    val_loader = NodeLoader(data, node_sampler=full, input_nodes=data.val_mask, batch_size=500)
    test_loader = NodeLoader(data, node_sampler=full, input_nodes=data.test_mask, batch_size=500)
    model = GraphSAGE(data.num_features, 64, num_layers=len(fanouts), out_channels=7, dropout=0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, test_at_best = 0.0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        sampler.epoch = epoch
        total_loss = 0.0
        for batch in train_loader:
            opt.zero_grad()
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
            loss = F.cross_entropy(out, batch.y[: batch.batch_size])
            loss.backward()
            opt.step()
            total_loss += loss.item() * batch.batch_size
        val = evaluate(model, val_loader)
        if val > best_val:
            best_val, test_at_best = val, evaluate(model, test_loader)
        if log:
            print(
                f"epoch {epoch:3d}  loss {total_loss / train_idx.numel():.4f}  "
                f"val {val:.3f}  test@best-val {test_at_best:.3f}"
            )
    return {"best_val": best_val, "test": test_at_best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=DEFAULT_RAW)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = train_cora(args.raw_dir, epochs=args.epochs, seed=args.seed)
    print(f"best val {result['best_val']:.3f}, test accuracy {result['test']:.3f}")


if __name__ == "__main__":
    main()
