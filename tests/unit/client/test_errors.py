import pytest

from orbitmq.client import errors
from orbitmq.errors import OrbitMQError


@pytest.mark.parametrize(
    ("code", "cls", "retriable"),
    [
        (1, errors.BrokerSystemError, True),
        (2, errors.SystemBusyError, False),
        (3, errors.RequestCodeNotSupportedError, False),
        (13, errors.MessageIllegalError, False),
        (14, errors.ServiceNotAvailableError, True),
        (16, errors.NoPermissionError, True),
        (17, errors.TopicNotExistError, True),
        (22, errors.QueryNotFoundError, False),
        (24, errors.SubscriptionNotExistError, False),
        (204, errors.NoBuyerIdError, True),
        (205, errors.NotInCurrentUnitError, True),
        (206, errors.ConsumerNotOnlineError, False),
        (215, errors.FlowControlError, False),
        (999, errors.MQBrokerError, False),
    ],
)
def test_error_for_code(code: int, cls: type, retriable: bool) -> None:
    exc = errors.error_for_code(code, "because")
    assert type(exc) is cls
    assert exc.code == code
    assert exc.response_code == code
    assert exc.remark == "because"
    assert exc.retriable is retriable
    assert "because" in str(exc)
    assert isinstance(exc, errors.ClientError)
    assert isinstance(exc, OrbitMQError)


def test_transport_errors_are_reexported_and_retriable() -> None:
    for cls in (
        errors.RequestTimeoutError,
        errors.ConnectionClosedError,
        errors.ConnectionBrokenError,
        errors.RemotingConnectError,
    ):
        assert issubclass(cls, errors.RemotingError)
        assert cls.retriable
