"""Planetoid raw files (Cora, CiteSeer, PubMed) → dataset, with the standard public split.

Yang, Cohen & Salakhutdinov, "Revisiting Semi-Supervised Learning with Graph Embeddings", ICML
2016. Layout and conventions follow torch_geometric's ``Planetoid``: nodes are ``allx`` rows then
``tx`` rows reordered by ``test.index``; train = the rows of ``x``, val = the next 500, test = the
ids in ``test.index``; edges are symmetrised with duplicates and self-loops removed.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from dsgraph.errors import DatasetError
from dsgraph.graph import CSRGraph
from dsgraph.storage.schema import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL
from dsgraph.storage.writer import write_dataset

PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph")
NUM_VAL = 500


def _load_pickle(path: Path) -> object:
    if not path.is_file():
        raise DatasetError(f"{path}: missing (expected Planetoid raw file)")
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            # The raw files are Python-2 pickles of scipy/numpy objects (only load trusted
            # copies); they name scipy.sparse.csr, which SciPy warns about on every load.
            warnings.simplefilter("ignore", DeprecationWarning)
            return pickle.load(fh, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, ImportError) as exc:
        raise DatasetError(f"{path}: not a readable Planetoid pickle ({exc})") from None


def _dense(matrix: object) -> np.ndarray:
    return np.asarray(matrix.todense() if hasattr(matrix, "todense") else matrix, np.float32)


def read_planetoid(raw_dir: str | os.PathLike[str], name: str) -> dict:
    """Arrays of a Planetoid dataset: features, labels (−1 unknown), split codes, edges."""
    raw = Path(raw_dir)
    prefix = f"ind.{name.lower()}"
    obj = {part: _load_pickle(raw / f"{prefix}.{part}") for part in PARTS}
    index_file = raw / f"{prefix}.test.index"
    if not index_file.is_file():
        raise DatasetError(f"{index_file}: missing (expected Planetoid raw file)")
    try:
        test_index = np.loadtxt(index_file, dtype=np.int64, ndmin=1)
    except ValueError as exc:
        raise DatasetError(f"{index_file}: not a list of integers ({exc})") from None

    x, tx, allx = _dense(obj["x"]), _dense(obj["tx"]), _dense(obj["allx"])
    y, ty, ally = (np.asarray(obj[k]) for k in ("y", "ty", "ally"))
    sorted_test = np.sort(test_index)
    if name.lower() == "citeseer":
        # CiteSeer has test ids with no test row (isolated nodes): pad with zero features and
        # unknown labels so node ids stay aligned, as torch_geometric does.
        span = sorted_test[-1] - sorted_test[0] + 1
        tx_full = np.zeros((span, tx.shape[1]), np.float32)
        tx_full[sorted_test - sorted_test[0]] = tx
        ty_full = np.zeros((span, ty.shape[1]), ty.dtype)
        ty_full[sorted_test - sorted_test[0]] = ty
        tx, ty = tx_full, ty_full
    features = np.concatenate([allx, tx])
    onehot = np.concatenate([ally, ty])
    labels = np.where(onehot.sum(1) > 0, onehot.argmax(1), -1).astype(np.int64)
    features[test_index] = features[sorted_test]
    labels[test_index] = labels[sorted_test]
    num_nodes = features.shape[0]

    split = np.zeros(num_nodes, np.int8)
    split[: x.shape[0]] = SPLIT_TRAIN
    split[y.shape[0] : y.shape[0] + NUM_VAL] = SPLIT_VAL
    split[test_index] = SPLIT_TEST

    graph_dict = obj["graph"]
    if not isinstance(graph_dict, dict):
        raise DatasetError(f"{raw / (prefix + '.graph')}: expected a dict of adjacency lists")
    src = np.fromiter(
        (k for k, vs in graph_dict.items() for _ in vs),
        np.int64,
        sum(map(len, graph_dict.values())),
    )
    dst = np.fromiter((v for vs in graph_dict.values() for v in vs), np.int64, src.size)
    num_nodes = max(num_nodes, int(max(src.max(), dst.max())) + 1)
    graph = CSRGraph.from_edges(src, dst, num_nodes, symmetrize=True, drop_self_loops=True)
    src, dst = graph.edges()
    return dict(
        src=src,
        dst=dst,
        num_nodes=num_nodes,
        features=features,
        labels=labels,
        split=split,
        num_classes=onehot.shape[1],
    )


def convert_planetoid(
    raw_dir: str | os.PathLike[str], name: str, out: str | os.PathLike[str]
) -> Path:
    """Write the Planetoid dataset ``name`` (cora, citeseer, pubmed) found in ``raw_dir``."""
    arrays = read_planetoid(raw_dir, name)
    return write_dataset(
        out,
        directed=False,
        name=name.lower(),
        extra_meta={"source": f"planetoid raw files ({Path(raw_dir).resolve()})"},
        **arrays,
    )
