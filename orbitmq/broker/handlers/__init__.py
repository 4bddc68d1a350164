"""Remoting request handlers of the broker, one module per concern."""
