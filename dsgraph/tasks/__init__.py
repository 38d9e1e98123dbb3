"""dsgraph.tasks."""
