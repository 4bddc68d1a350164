"""DLedger mode: the broker's commit log replicated by Raft (store-and-replication.md §9)."""
