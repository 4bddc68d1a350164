"""DLedger admin requests on the broker port: a member's Raft status (DLedger's
METADATA code) and leadership transfer (LEADERSHIP_TRANSFER), for `orbitmq dledger`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from orbitmq.broker.errors import BrokerError, ServiceNotAvailableError
from orbitmq.broker.headers import Header
from orbitmq.dledger.raft import NotLeaderError
from orbitmq.dledger.rpc import LEADERSHIP_TRANSFER, METADATA
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController
    from orbitmq.broker.dledger_role import DLedgerRole


class DLedgerAdminHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: object) -> None:
        dispatcher.register(METADATA, self.status)  # type: ignore[attr-defined]
        dispatcher.register(LEADERSHIP_TRANSFER, self.transfer)  # type: ignore[attr-defined]

    def _role(self) -> DLedgerRole:
        role = self._broker.dledger
        if role is None:
            raise BrokerError(
                f"broker {self._broker.config.broker_name} does not run in DLedger mode "
                "(enableDLegerCommitLog=false)"
            )
        return role

    def status(self, connection: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        return request.response(ResponseCode.SUCCESS, body=orjson.dumps(self._role().status()))

    def transfer(self, connection: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        """Ask this member, which must lead, to hand leadership to `transfereeId`."""
        role = self._role()
        target = Header(request).str("transfereeId")
        try:
            role.node.transfer_leadership(target)
        except NotLeaderError as exc:
            raise ServiceNotAvailableError(
                f"{role.config.self_id} is not the leader of {role.config.group}; ask the "
                f"leader ({exc.leader_id or 'unknown now'})"
            ) from exc
        except ValueError as exc:
            raise BrokerError(str(exc)) from exc
        return request.response(ResponseCode.SUCCESS, f"leadership transfer to {target} started")
