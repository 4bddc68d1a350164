"""Why `orbitmq cluster` could not do what it was asked (ConfigError covers bad files)."""

from orbitmq.errors import OrbitMQError


class ClusterError(OrbitMQError):
    """A cluster could not be started: a port taken, a process that died or never
    registered. The message names the process and carries the end of its log."""
