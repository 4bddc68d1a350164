"""The broker core: configs, request handlers, long polling, client registry."""
