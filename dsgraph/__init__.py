"""dsgraph."""
