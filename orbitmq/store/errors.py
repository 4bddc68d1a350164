"""The store's branch of the error tree (see orbitmq/errors.py).

    StoreError                  the store cannot do what was asked
      StoreLockedError          another store process holds `lock` in this directory
      StoreLayoutError          files on disk do not match the configuration
      StoreClosedError          the store was used before start() or after aclose()
      DiskFullError             no disk space for new blocks (sends refused)
      NotWritableError          DLedger mode: this node cannot take writes now (not leader)

Send-path outcomes (illegal message, flush timeout) are statuses in PutMessageResult,
not exceptions, because the broker turns them into response codes directly.
"""

from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import ResponseCode


class StoreError(OrbitMQError):
    """Base of every error raised by orbitmq.store."""

    response_code = ResponseCode.SYSTEM_ERROR


class StoreLockedError(StoreError):
    """The store directory is locked by another MessageStore (another broker?).

    Not retriable: stop the other broker or point this one at another storePathRootDir.
    """

    def __init__(self, lock_path: str) -> None:
        super().__init__(
            f"store lock {lock_path!r} is held by another process; "
            "is another broker using this storePathRootDir?"
        )
        self.lock_path = lock_path


class StoreLayoutError(StoreError):
    """A segment file's name or size disagrees with the configuration.

    Usually mapedFileSizeCommitLog / mapedFileSizeConsumeQueue was changed after data
    was written; restore the old value or move the store away.
    """


class StoreClosedError(StoreError):
    """The store is not running (before start() or after aclose())."""

    response_code = ResponseCode.SERVICE_NOT_AVAILABLE
    retriable = True


class DiskFullError(StoreError):
    """The disk holding the store has no room: sends are refused, reads keep working.

    Retriable once space is freed (retention, or an operator); the broker answers
    SERVICE_NOT_AVAILABLE so producers try another broker.
    """

    response_code = ResponseCode.SERVICE_NOT_AVAILABLE
    retriable = True


class NotWritableError(StoreError):
    """DLedger mode: the replicated log takes no writes here now (a follower, a leader
    still catching up, or one handing leadership over). The remark names the leader
    when it is known; producers retry on another broker set and refresh their route."""

    response_code = ResponseCode.SERVICE_NOT_AVAILABLE
    retriable = True
