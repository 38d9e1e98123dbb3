"""dsgraph.train."""
