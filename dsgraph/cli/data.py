"""``dsgraph generate | convert | info | datasets``: parse, validate, delegate to the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsgraph.cli.app import app

generate_app = typer.Typer(
    help="Generate synthetic datasets (seeded, deterministic).", no_args_is_help=True
)
convert_app = typer.Typer(
    help="Convert public formats to a dsgraph dataset directory.", no_args_is_help=True
)
datasets_app = typer.Typer(
    help="Known public datasets: list, fetch (sha256-checked).", no_args_is_help=True
)
app.add_typer(generate_app, name="generate")
app.add_typer(convert_app, name="convert")
app.add_typer(datasets_app, name="datasets")

Out = Annotated[Path, typer.Option("--out", "-o", help="dataset directory to write")]
Seed = Annotated[int, typer.Option(help="random seed; same seed → same dataset")]


def _done(path: Path) -> None:
    typer.echo(f"wrote {path}  (inspect with: dsgraph info {path})")


@generate_app.command("rmat")
def generate_rmat_cmd(
    out: Out,
    scale: Annotated[int, typer.Option(help="2**scale nodes")] = 16,
    edge_factor: Annotated[int, typer.Option(help="edges per node")] = 16,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    seed: Seed = 0,
    directed: Annotated[bool, typer.Option(help="store as directed (default: undirected)")] = False,
) -> None:
    """R-MAT / Graph500 power-law graph."""
    from rich.progress import Progress

    from dsgraph.datasets.rmat import generate_rmat

    with Progress(transient=True) as bar:
        task = bar.add_task("generating R-MAT edges", total=edge_factor << scale)
        path = generate_rmat(
            out,
            scale,
            edge_factor,
            a,
            b,
            c,
            seed,
            directed=directed,
            on_progress=lambda done, total: bar.update(task, completed=done),
        )
    _done(path)


@generate_app.command("sbm")
def generate_sbm_cmd(
    out: Out,
    num_nodes: Annotated[int, typer.Option("--nodes")] = 3000,
    num_classes: Annotated[int, typer.Option("--classes")] = 5,
    feature_dim: Annotated[int, typer.Option("--features")] = 32,
    avg_degree: Annotated[float, typer.Option("--avg-degree")] = 10.0,
    homophily: float = 0.8,
    feature_noise: float = 1.5,
    seed: Seed = 0,
) -> None:
    """Labelled stochastic block model with class-correlated features and node splits."""
    from dsgraph.datasets.sbm import generate_sbm

    _done(
        generate_sbm(
            out,
            num_nodes,
            num_classes,
            feature_dim,
            avg_degree,
            seed=seed,
            homophily=homophily,
            feature_noise=feature_noise,
        )
    )


@generate_app.command("user-item")
def generate_user_item_cmd(
    out: Out,
    num_users: Annotated[int, typer.Option("--users")] = 2000,
    num_items: Annotated[int, typer.Option("--items")] = 1000,
    per_user: Annotated[float, typer.Option("--per-user", help="mean interactions per user")] = 25,
    test_fraction: float = 0.2,
    seed: Seed = 0,
) -> None:
    """Bipartite user–item interactions with latent tastes and power-law item popularity."""
    from dsgraph.datasets.user_item import generate_user_item

    _done(
        generate_user_item(
            out, num_users, num_items, per_user, seed=seed, test_fraction=test_fraction
        )
    )


@convert_app.command("planetoid")
def convert_planetoid_cmd(
    raw_dir: Annotated[Path, typer.Argument(help="folder with ind.<name>.* raw files")],
    out: Out,
    name: Annotated[str, typer.Option(help="cora, citeseer or pubmed")] = "cora",
) -> None:
    """Planetoid raw files (standard public split)."""
    from dsgraph.storage.converters.planetoid import convert_planetoid

    _done(convert_planetoid(raw_dir, name, out))


@convert_app.command("movielens")
def convert_movielens_cmd(
    directory: Annotated[Path, typer.Argument(help="GroupLens ml-100k folder")],
    out: Out,
    split: Annotated[str, typer.Option(help="u1 (u1.base/u1.test) or temporal")] = "u1",
    test_fraction: Annotated[float, typer.Option(help="temporal split: share held out")] = 0.2,
) -> None:
    """MovieLens ratings → bipartite user–item dataset."""
    from dsgraph.storage.converters.movielens import convert_movielens

    _done(convert_movielens(directory, out, split=split, test_fraction=test_fraction))


@convert_app.command("edgelist")
def convert_edgelist_cmd(
    file: Annotated[Path, typer.Argument(help="CSV/TSV edge list")],
    out: Out,
    delimiter: Annotated[
        str | None, typer.Option(help="default: tab for .tsv/.txt, else ,")
    ] = None,
    header: Annotated[bool, typer.Option(help="first line holds column names")] = False,
    src_col: Annotated[str, typer.Option(help="source column (index or name)")] = "0",
    dst_col: Annotated[str, typer.Option(help="destination column (index or name)")] = "1",
    weight_col: Annotated[str | None, typer.Option(help="weight column (index or name)")] = None,
    directed: Annotated[bool, typer.Option(help="edges are directed")] = False,
    num_nodes: Annotated[int | None, typer.Option(help="default: max id + 1")] = None,
    relabel: Annotated[bool, typer.Option(help="map arbitrary ids to 0..N-1")] = False,
    name: str | None = None,
) -> None:
    """Edge-list text file (SNAP-style '#' comment lines are skipped)."""
    from dsgraph.storage.converters.edgelist import convert_edge_list

    def col(spec: str | None) -> int | str | None:
        return int(spec) if spec is not None and spec.isdigit() else spec

    _done(
        convert_edge_list(
            file,
            out,
            delimiter=delimiter,
            header=header,
            src_col=col(src_col),
            dst_col=col(dst_col),
            weight_col=col(weight_col),
            directed=directed,
            num_nodes=num_nodes,
            relabel=relabel,
            name=name,
        )
    )


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="dataset directory")],
    hub_threshold: Annotated[int, typer.Option(help="degree above which a node is a hub")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Summary of a dataset: size, degree distribution, hubs, features, splits."""
    import json

    from dsgraph.storage.info import dataset_stats

    stats = dataset_stats(path, hub_threshold)
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{stats['name']}  ({stats['path']})", show_header=False)
    table.add_column("property", style="bold")
    table.add_column("value")
    kind = "directed" if stats["directed"] else "undirected (stored symmetrised)"
    rows = [
        ("graph", kind + (", weighted" if stats["weighted"] else "")),
        ("nodes", f"{stats['num_nodes']:,}  ({stats['isolated_nodes']:,} isolated)"),
        ("edges", f"{stats['csr_edges']:,} in CSR  ({stats['edge_rows']:,} rows on disk)"),
        (
            "degree min / median / p99 / max",
            f"{stats['degree_min']:,} / {stats['degree_median']:g} / {stats['degree_p99']:,.1f} / "
            f"{stats['degree_max']:,}",
        ),
        (
            f"hubs (degree > {stats['hub_threshold']:,})",
            f"{stats['hubs']:,} nodes holding {100 * stats['hub_edge_share']:.1f} % of edges",
        ),
        ("features", str(stats["feature_dim"]) if stats["feature_dim"] else "none"),
        ("classes", str(stats["num_classes"]) if stats["num_classes"] else "none"),
        ("node splits", _fmt_splits(stats["node_splits"])),
        ("edge splits", _fmt_splits(stats["edge_splits"])),
        (
            "node types",
            ", ".join(f"{k} [{a:,}, {b:,})" for k, (a, b) in (stats["node_types"] or {}).items())
            or "none",
        ),
        ("edge columns", ", ".join(stats["edge_columns"])),
        (
            "size on disk",
            f"{stats['size_on_disk_bytes'] / 2**20:,.2f} MiB "
            f"(CSR in memory {stats['csr_bytes'] / 2**20:,.2f} MiB)",
        ),
    ]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def _fmt_splits(splits: dict | None) -> str:
    if not splits:
        return "none"
    return " / ".join(f"{k} {v:,}" for k, v in splits.items())


@datasets_app.command("list")
def datasets_list() -> None:
    """Known public datasets and their terms."""
    from dsgraph.datasets.registry import KNOWN_DATASETS

    for known in KNOWN_DATASETS.values():
        typer.echo(f"{known.name}: {len(known.files)} files; {known.terms}")


@datasets_app.command("fetch")
def datasets_fetch(
    name: Annotated[str, typer.Argument(help="dataset name (see: dsgraph datasets list)")],
    from_path: Annotated[
        Path | None, typer.Option("--from", help="offline copy of the raw files")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="default ~/.cache/dsgraph")] = None,
    force: Annotated[bool, typer.Option(help="re-fetch even when cached")] = False,
) -> None:
    """Fetch a known dataset (or copy it --from a local folder), verify sha256, convert."""
    from dsgraph.datasets.registry import fetch_dataset

    _done(fetch_dataset(name, from_path=from_path, cache_dir=cache_dir, force=force))
