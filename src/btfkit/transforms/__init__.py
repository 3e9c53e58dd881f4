"""Transforms of BTF: deduplication, merging, whole module trees."""
