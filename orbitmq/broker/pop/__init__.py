"""POP consumption (RocketMQ 5's message-based load balancing): any number of
consumers of a group share a queue; each popped message stays invisible to the group
until it is acked or its invisible time passes, and then comes back with one more
delivery attempt. The gRPC proxy (orbitmq/proxy) serves 5.x consumers through it."""
