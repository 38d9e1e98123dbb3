"""dsgraph.distributed."""
