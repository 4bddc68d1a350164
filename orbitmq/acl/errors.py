"""ACL refusals. RocketMQ's brokers answer every one with SYSTEM_ERROR (the AclException
text as remark), and clients key on that code, so OrbitMQ does too."""

from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import ResponseCode


class AclError(OrbitMQError):
    """A request refused by the ACL; the message says which key, resource or check."""

    response_code = ResponseCode.SYSTEM_ERROR
    retriable = False


class AclConfigError(OrbitMQError):
    """plain_acl.yml (or an edit of it) is not usable; the message names the key."""

    response_code = ResponseCode.SYSTEM_ERROR
