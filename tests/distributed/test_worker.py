"""Worker-side helpers without Ray: example ownership, parameter layout round trips."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.distributed.driver import assign_parts
from dsgraph.distributed.worker import (
    flat_dense,
    load_dense,
    model_layout,
    owned_examples,
    restrict_task,
)


@settings(max_examples=50, deadline=None)
@given(
    num_parts=st.integers(1, 4),
    extra_workers=st.integers(0, 5),
    seeds=st.lists(st.integers(0, 29), min_size=0, max_size=80),
    salt=st.integers(0, 10),
)
def test_every_example_is_owned_by_exactly_one_worker(num_parts, extra_workers, seeds, salt):
    owner = (np.arange(30) * 7 + salt) % num_parts
    task = SimpleNamespace(train_users=np.asarray(seeds, np.int64))
    num_workers = num_parts + extra_workers
    taken = [
        owned_examples(task, owner, part, share, sharers)
        for part, share, sharers in assign_parts(num_workers, num_parts)
    ]
    everything = np.sort(np.concatenate(taken)) if taken else np.empty(0)
    np.testing.assert_array_equal(everything, np.arange(len(seeds)))  # all, none twice
    for (part, _, _), mine in zip(assign_parts(num_workers, num_parts), taken, strict=True):
        assert (owner[task.train_users[mine]] == part).all()  # only seeds its part owns


def test_restrict_task_keeps_matching_pairs() -> None:
    task = SimpleNamespace(train_users=np.array([5, 6, 7, 8]), train_items=np.array([1, 2, 3, 4]))
    restrict_task(task, np.array([1, 3]))
    assert task.train_users.tolist() == [6, 8] and task.train_items.tolist() == [2, 4]


class _Toy(torch.nn.Module):
    embedding_parameter_names = staticmethod(lambda: ["emb.weight"])

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(9, 3)
        self.lin = torch.nn.Linear(3, 2)


def test_layout_separates_tables_and_flat_round_trip() -> None:
    torch.manual_seed(0)
    model = _Toy()
    layout = model_layout(model)
    assert [t.name for t in layout.tables] == ["emb.weight"]
    assert layout.tables[0].num_rows == 9 and layout.tables[0].dim == 3
    assert [t.name for t in layout.tensors] == ["lin.weight", "lin.bias"]
    flat = flat_dense(model, layout)
    assert flat.dtype == np.float32 and flat.size == layout.dense_numel == 8
    other = _Toy()
    load_dense(other, layout, flat)
    assert torch.equal(other.lin.weight, model.lin.weight)
    assert torch.equal(other.lin.bias, model.lin.bias)
