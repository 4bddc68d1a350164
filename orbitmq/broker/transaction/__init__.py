"""Transactional (half) messages: prepare, END_TRANSACTION, check-back."""

from orbitmq.broker.transaction.service import CID_SYS_TRANS, TransactionalMessageService
from orbitmq.broker.transaction.state import TransactionState

__all__ = ["CID_SYS_TRANS", "TransactionState", "TransactionalMessageService"]
