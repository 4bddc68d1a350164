"""asyncio transports for the remoting protocol: connections, server, client."""
