"""Converters from public formats (Planetoid, MovieLens, edge lists, PyG ``Data``) to datasets."""
