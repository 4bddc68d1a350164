"""The message store: commit log, consume queues, checkpoint, recovery and flushing.

Nothing in this package imports the network; the broker drives it through
`MessageStore` (message_store.py).
"""

from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.errors import (
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
    StoreStatistics,
)

__all__ = [
    "AppendMessageResult",
    "GetMessageResult",
    "GetMessageStatus",
    "MessageStore",
    "MessageStoreConfig",
    "PutMessageResult",
    "PutMessageStatus",
    "StoreClosedError",
    "StoreError",
    "StoreLayoutError",
    "StoreLockedError",
    "StoreStatistics",
]
