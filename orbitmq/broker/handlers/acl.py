"""The ACL admin requests (AdminBrokerProcessor.java, 4.9.x), editing plain_acl.yml:

  50 UPDATE_AND_CREATE_ACL_CONFIG      ext: accessKey, secretKey, whiteRemoteAddress,
                                        defaultTopicPerm, defaultGroupPerm, admin,
                                        topicPerms, groupPerms (lists comma-joined)
  51 DELETE_ACL_CONFIG                 ext: accessKey
  52 GET_BROKER_CLUSTER_ACL_INFO       answer ext: version (DataVersion JSON), brokerName,
                                        brokerAddr, clusterName, allAclFileVersion
  53 UPDATE_GLOBAL_WHITE_ADDRS_CONFIG  ext: globalWhiteAddrs (comma-joined)
  54 GET_BROKER_CLUSTER_ACL_CONFIG     answer body: {"globalWhiteAddrs":[..],
                                        "plainAccessConfigs":[..]}
A broker without ACL answers each with SYSTEM_ERROR saying so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from orbitmq.acl.config import with_account, with_global_white, without_account
from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.permission import perm_text
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.topics import RETRY_GROUP_TOPIC_PREFIX
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher

if TYPE_CHECKING:
    from orbitmq.acl.store import AclStore
    from orbitmq.broker.broker import BrokerController


def _list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


class AclAdminHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker

    def register(self, dispatcher: RequestDispatcher) -> None:
        dispatcher.register(RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, self.update_account)
        dispatcher.register(RequestCode.DELETE_ACL_CONFIG, self.delete_account)
        dispatcher.register(RequestCode.GET_BROKER_CLUSTER_ACL_INFO, self.version_info)
        dispatcher.register(RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, self.update_global_white)
        dispatcher.register(RequestCode.GET_BROKER_CLUSTER_ACL_CONFIG, self.get_config)

    def _store(self) -> AclStore:
        store = self._broker.acl
        if store is None:
            raise AclConfigError(
                f"ACL is not enabled on broker {self._broker.config.broker_name}; set "
                "aclEnable=true in its .properties file and restart it"
            )
        return store

    def update_account(self, _: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        store = self._store()
        ext = request.ext_fields
        if not ext.get("accessKey"):
            raise AclConfigError("updateAclConfig needs accessKey")
        admin = ext.get("admin")
        update: dict[str, Any] = {
            "accessKey": ext["accessKey"],
            "secretKey": ext.get("secretKey"),
            "whiteRemoteAddress": ext.get("whiteRemoteAddress"),
            "admin": None if admin is None else admin.lower() == "true",
            "defaultTopicPerm": ext.get("defaultTopicPerm"),
            "defaultGroupPerm": ext.get("defaultGroupPerm"),
            "topicPerms": _list(ext.get("topicPerms")),
            "groupPerms": _list(ext.get("groupPerms")),
        }
        store.write(with_account(store.config.document, update))
        return request.response()

    def delete_account(self, _: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        store = self._store()
        store.write(without_account(store.config.document, request.ext_fields.get("accessKey", "")))
        return request.response()

    def update_global_white(
        self, _: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        store = self._store()
        addresses = _list(request.ext_fields.get("globalWhiteAddrs")) or []
        store.write(with_global_white(store.config.document, addresses))
        return request.response()

    def version_info(self, _: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        store = self._store()
        config = self._broker.config
        version = orjson.dumps(store.data_version()).decode()
        ext = {
            "version": version,
            "allAclFileVersion": orjson.dumps({str(store.path): store.data_version()}).decode(),
            "brokerName": config.broker_name,
            "brokerAddr": config.broker_addr,
            "clusterName": config.broker_cluster_name,
        }
        return request.response(ext_fields=ext)

    def get_config(self, _: RemotingConnection, request: RemotingCommand) -> RemotingCommand:
        config = self._store().config
        accounts = []
        for account in config.accounts.values():
            topic_perms = [
                f"{name}={perm_text(perm)}"
                for name, perm in account.resource_perms.items()
                if not name.startswith(RETRY_GROUP_TOPIC_PREFIX)
            ]
            group_perms = [
                f"{name[len(RETRY_GROUP_TOPIC_PREFIX) :]}={perm_text(perm)}"
                for name, perm in account.resource_perms.items()
                if name.startswith(RETRY_GROUP_TOPIC_PREFIX)
            ]
            accounts.append(
                {
                    "accessKey": account.access_key,
                    "secretKey": account.secret_key,
                    "whiteRemoteAddress": account.white_remote_address,
                    "admin": account.admin,
                    "defaultTopicPerm": perm_text(account.default_topic_perm),
                    "defaultGroupPerm": perm_text(account.default_group_perm),
                    "topicPerms": topic_perms,
                    "groupPerms": group_perms,
                }
            )
        body = {
            "globalWhiteAddrs": list(config.global_white_addresses),
            "plainAccessConfigs": accounts,
        }
        return request.response(body=orjson.dumps(body))
