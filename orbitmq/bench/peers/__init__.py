"""The same load on other brokers (NATS JetStream, Redis Streams), for comparison."""
