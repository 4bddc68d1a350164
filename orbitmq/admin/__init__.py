"""mqadmin: RocketMQ's admin command line (command names and flags kept) over MQAdmin."""
