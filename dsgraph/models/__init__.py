"""dsgraph.models."""
