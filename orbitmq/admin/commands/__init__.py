"""mqadmin sub-commands, one module per command group (topic, cluster, message)."""
