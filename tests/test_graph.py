"""Smoke tests of CSRGraph; the property-based suite lives beside it."""

import numpy as np
import pytest

from dsgraph.errors import GraphFormatError
from dsgraph.graph import CSRGraph


def test_dedupe_and_self_loops() -> None:
    g = CSRGraph.from_edges(
        [0, 0, 1, 2, 2, 2], [1, 1, 2, 0, 2, 1], dedupe=True, drop_self_loops=True
    )
    assert g.indptr.tolist() == [0, 1, 2, 4]
    assert g.indices.tolist() == [1, 2, 0, 1]
    assert g.indices.dtype == np.int32


def test_out_of_range_names_column_and_row() -> None:
    with pytest.raises(GraphFormatError, match=r"'dst' row 2: node id 7"):
        CSRGraph.from_edges([0, 1, 2], [1, 2, 7], num_nodes=3)
