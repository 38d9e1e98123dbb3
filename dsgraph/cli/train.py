"""``dsgraph train | evaluate | recommend``: parse, validate, delegate to dsgraph.train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dsgraph.cli.app import app


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML run config (see examples/)")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override one key: --set train.lr=0.01 (repeatable)"),
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue from the run's last checkpoint")] = False,
    out: Annotated[Path | None, typer.Option(help="run folder (default output.dir/name)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Train a GNN as CONFIG describes; prints the final metrics against the baseline."""
    from dsgraph.config import load_config

    cfg = load_config(config, set_ or [])
    run_dir = out if out is not None else cfg.run_dir(config)
    if cfg.cluster.num_workers > 0:
        result = _train_distributed(cfg, run_dir, resume, progress)
    else:
        from dsgraph.train.trainer import train as run_training

        result = run_training(cfg, run_dir, resume=resume, progress=progress)
    _print_scores(result.final, result.baseline, result.headline)
    typer.echo(
        f"{result.steps} steps in {result.train_seconds:.1f} s of training; "
        f"run folder: {result.run_dir}"
    )


def _train_distributed(cfg: object, run_dir: Path, resume: bool, progress: bool) -> Any:
    from dsgraph.errors import ConfigError

    try:
        from dsgraph.distributed import train_distributed
    except ImportError:
        raise ConfigError(
            "cluster.num_workers > 0 but distributed training is unavailable in this install "
            "(dsgraph.distributed.train_distributed is missing); set cluster.num_workers: 0"
        ) from None
    return train_distributed(cfg, run_dir, resume=resume, progress=progress)


def _print_scores(final: dict, baseline: dict, headline: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"final metrics (headline: {headline})")
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("baseline", justify="right")
    for key, value in final.items():
        base = baseline.get(key)
        table.add_row(key, f"{value:.4f}", "" if base is None else f"{base:.4f}")
    Console().print(table)


@app.command()
def evaluate(run_dir: Annotated[Path, typer.Argument(help="a run folder")]) -> None:
    """Re-score RUN_DIR from its latest checkpoint (and the baseline)."""
    from dsgraph.train.trainer import evaluate_run

    final, baseline, headline = evaluate_run(run_dir)
    _print_scores(final, baseline, headline)


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Argument(help="a recommendation run folder")],
    user: Annotated[int, typer.Option(help="user id (0-based)")],
    k: Annotated[int, typer.Option(help="how many items", min=1)] = 20,
) -> None:
    """Print USER's top-K unseen items (node id, score) from the run's embeddings."""
    from dsgraph.train.trainer import recommend as top_items

    for rank, (item, score) in enumerate(top_items(run_dir, user, k), start=1):
        typer.echo(f"{rank:3d}  item {item}  score {score:.4f}")
