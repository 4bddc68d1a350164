"""The message store: commit log, consume queues, key index, checkpoint, recovery,
flushing and retention.

Nothing in this package imports the network; the broker drives it through
`MessageStore` (message_store.py).
"""

from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.errors import (
    DiskFullError,
    StoreClosedError,
    StoreError,
    StoreLayoutError,
    StoreLockedError,
)
from orbitmq.store.message_store import (
    AppendMessageResult,
    GetMessageResult,
    GetMessageStatus,
    MessageStore,
    PutMessageResult,
    PutMessageStatus,
    QueryMessageResult,
    StoreStatistics,
)

__all__ = [
    "AppendMessageResult",
    "DiskFullError",
    "GetMessageResult",
    "GetMessageStatus",
    "MessageStore",
    "MessageStoreConfig",
    "PutMessageResult",
    "PutMessageStatus",
    "QueryMessageResult",
    "StoreClosedError",
    "StoreError",
    "StoreLayoutError",
    "StoreLockedError",
    "StoreStatistics",
]
