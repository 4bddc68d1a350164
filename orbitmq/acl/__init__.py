"""RocketMQ 4.x plain ACL (PlainAccessValidator): accounts from plain_acl.yml, request
signatures, white-listed addresses and topic/group permissions.

Pure modules (no I/O): `permission` (Permission.java), `address`
(RemoteAddressStrategyFactory), `signature` (AclUtils, AclClientRPCHook), `config` (the
YAML file's model), `resource` (what a request code needs, PlainAccessResource.parse),
`validator` (PlainPermissionManager.validate). The I/O shell is `store` (reads, reloads
and edits the file). See docs/security.md.
"""
