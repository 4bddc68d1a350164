"""A cheap load generator for measuring servers, not clients: `orbitmq bench raw-*`.

Every request is encoded once as a template and then only patched in place (counter
digits, opaque, queue id), and responses are scanned for their lengths and status only,
so that the generator costs about a microsecond or two per message and the server's CPU
per message is what the figures show. Loads: OrbitMQ (SEND_MESSAGE_V2, PULL_MESSAGE),
Redis Streams (XADD, XREADGROUP) and NATS JetStream (PUB with PubAck, pull consumer),
all over plain asyncio Protocols on uvloop.
"""
