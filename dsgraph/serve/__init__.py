"""HTTP service over incremental inference: ``POST /events``, ``GET /recommend/{user}``."""
