"""Label names of the broker's series (BrokerMetricsConstant.java) and `metricsLabel`."""

from __future__ import annotations

import re

from orbitmq.config_file import ConfigError

NODE_TYPE_BROKER = "broker"
BASE_LABELS = ("cluster", "node_type", "node_id")
# Every label some series sets; `metricsLabel` may not reuse one ("le": histograms).
SERIES_LABELS = frozenset(
    {
        *BASE_LABELS,
        "topic",
        "message_type",
        "is_system",
        "consumer_group",
        "is_retry",
        "language",
        "version",
        "consume_mode",
        "protocol_type",
        "request_code",
        "response_code",
        "is_long_polling",
        "result",
        "storage_type",
        "storage_medium",
        "le",
    }
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def parse_metrics_label(text: str) -> dict[str, str]:
    """`metricsLabel`: extra labels on every series, as `name:value,name:value`.

    Raises:
        ConfigError: an item is not name:value, a name is not a Prometheus label name,
            is one OrbitMQ sets itself, or comes twice.
    """
    labels: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        parts = [part.strip() for part in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"metricsLabel={text!r}: {item.strip()!r} is not name:value")
        name, value = parts
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ConfigError(f"metricsLabel={text!r}: {name!r} is not a Prometheus label name")
        if name in SERIES_LABELS:
            raise ConfigError(f"metricsLabel={text!r}: the broker sets label {name!r} itself")
        if name in labels:
            raise ConfigError(f"metricsLabel={text!r}: label {name!r} is given twice")
        labels[name] = value
    return labels
