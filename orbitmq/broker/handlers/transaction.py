"""END_TRANSACTION (37) (EndTransactionProcessor.java).

Java producers send it one-way (the dispatcher then sends no answer whatever happens);
the C++ client sends flag 0 and ignores the answer. Either way a request that names an
unknown half message, or one already committed or rolled back, changes nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from orbitmq.broker.headers import Header
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)


class EndTransactionHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        dispatcher.register(RequestCode.END_TRANSACTION, self.end_transaction)  # type: ignore[attr-defined]

    def end_transaction(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        broker = self._broker
        if not broker.config.is_master:  # RocketMQ answers SLAVE_NOT_AVAILABLE here, not 14
            return request.response(
                ResponseCode.SLAVE_NOT_AVAILABLE,
                f"broker {broker.config.broker_name} is a slave: it takes no END_TRANSACTION",
            )
        header = Header(request)
        producer_group = header.str("producerGroup")
        tran_state_table_offset = header.int("tranStateTableOffset")
        commit_log_offset = header.int("commitLogOffset")
        kind = header.int("commitOrRollback")
        from_check = header.bool("fromTransactionCheck")
        try:
            remark = broker.transaction_service.end_transaction(
                producer_group, tran_state_table_offset, commit_log_offset, kind
            )
        except Exception as exc:
            log.warning(
                "END_TRANSACTION %d of %s (half %d at %d, from check %s) from %s refused: %s",
                kind,
                producer_group,
                tran_state_table_offset,
                commit_log_offset,
                from_check,
                connection.peer_address,
                exc,
            )
            raise
        log.debug("END_TRANSACTION %d of %s: %s", kind, producer_group, remark)
        if request.remark:
            log.info("producer %s says about its transaction: %s", producer_group, request.remark)
        return request.response(remark=remark)
