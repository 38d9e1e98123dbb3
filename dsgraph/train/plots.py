"""curves.png: training loss, the headline evaluation metric, loss scale and compression ratio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dsgraph.storage.atomic import atomic_file


def _series(records: list[dict[str, Any]], kind: str, key: str) -> tuple[list, list]:
    xs, ys = [], []
    for r in records:
        value = r.get(key)
        if r.get("kind") == kind and isinstance(value, int | float):
            xs.append(r["step"])
            ys.append(value)
    return xs, ys


def plot_curves(records: list[dict[str, Any]], path: str | Path, headline: str) -> Path:
    """Draw the four panels from metrics records and write them atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    panels = [
        ("step", "loss", "training loss", False),
        ("eval", headline, headline, False),
        ("step", "loss_scale", "loss scale", True),
        ("step", "compression/ratio", "compression ratio (bytes sent / dense)", False),
    ]
    for ax, (kind, key, title, log) in zip(axes.flat, panels, strict=True):
        xs, ys = _series(records, kind, key)
        if xs:
            ax.plot(xs, ys, marker="o" if kind == "eval" else None, lw=1.2)
            if log and min(ys) > 0:
                ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        if kind == "eval":
            _, by = _series(records, "baseline", key)
            if by:
                ax.axhline(by[-1], color="gray", ls="--", label="baseline")
                ax.legend()
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path
