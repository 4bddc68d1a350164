"""`orbitmq bench suite`: every performance figure of docs/performance.md in one run."""
