"""The settings the proxy answers a client's Telemetry upload with: the client's own,
plus the server-side values RocketMQ's proxy merges in (GrpcClientSettingsManager)."""

from __future__ import annotations

from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.convert import duration

PRODUCER_MAX_ATTEMPTS = 3
RECEIVE_BATCH_SIZE = 32
LONG_POLLING_MS = 20_000
# The delays of 4.x retry levels 3..18 (1s 5s 10s 30s 1m .. 2h), a consumer's back-off.
CONSUMER_BACKOFF_MS = (
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000,
    420_000, 480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
)  # fmt: skip


class SettingsError(ValueError):
    """A Settings upload that is neither a producer's nor a consumer's."""


def merged_settings(
    uploaded: pb.Settings, *, max_body_size: int, fifo: bool = False, max_attempts: int = 17
) -> pb.Settings:
    """Raises:
    SettingsError: the upload has neither `publishing` nor `subscription`.
    """
    settings = pb.Settings()
    settings.CopyFrom(uploaded)
    kind = settings.WhichOneof("pub_sub")
    if kind == "publishing":
        settings.backoff_policy.CopyFrom(
            pb.RetryPolicy(
                max_attempts=PRODUCER_MAX_ATTEMPTS,
                exponential_backoff=pb.ExponentialBackoff(
                    initial=duration(10), max=duration(1_000), multiplier=2.0
                ),
            )
        )
        settings.publishing.max_body_size = max_body_size
        settings.publishing.validate_message_type = True
    elif kind == "subscription":
        subscription = settings.subscription
        subscription.receive_batch_size = RECEIVE_BATCH_SIZE
        if settings.client_type != pb.SIMPLE_CONSUMER or not subscription.HasField(
            "long_polling_timeout"
        ):
            subscription.long_polling_timeout.CopyFrom(duration(LONG_POLLING_MS))
        subscription.fifo = fifo
        settings.backoff_policy.CopyFrom(
            pb.RetryPolicy(
                max_attempts=max_attempts,
                customized_backoff=pb.CustomizedBackoff(
                    next=[duration(ms) for ms in CONSUMER_BACKOFF_MS]
                ),
            )
        )
    else:
        raise SettingsError(
            "settings carry neither publishing (a producer's) nor subscription (a consumer's)"
        )
    settings.metric.CopyFrom(pb.Metric(on=False))
    return settings
