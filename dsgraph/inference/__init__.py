"""Layer-wise full-graph inference and exact incremental embedding updates.

Modules (import them directly; this package imports nothing heavy):

- ``full``: :func:`layerwise_inference`, the single-process reference.
- ``incremental``: :class:`IncrementalEngine` (single process) and the wave driver.
- ``events``: typed events, batch validation, Parquet event files.
- ``part_state`` / ``layout``: one part's state and the wave protocol; splitting a graph into
  masters, held edges, halo and hub mirrors (used by ``dsgraph.distributed.partition_engine``).
- ``recommend``: refreshed top-k for the users an update affected.
- ``run``: loading a training run folder.
"""
