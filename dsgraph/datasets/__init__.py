"""dsgraph.datasets."""
