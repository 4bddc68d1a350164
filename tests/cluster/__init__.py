"""Cluster tests: several hosts played by Linux network namespaces (ARCHITECTURE.md §5)."""
