"""dsgraph.inference."""
