"""`orbitmq bench`: producer and consumer load generators (RocketMQ's benchmark scripts)."""
