"""Sans-IO codecs for RocketMQ's remoting protocol and stored message records.

Nothing in this package does I/O or imports asyncio.
"""
