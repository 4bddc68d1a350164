"""The subscription group form (create/update) and the delete form: reading and checking
what was posted. Pure code: a form in, values or a FormError that says what to fix out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from orbitmq.dashboard.pages.common import FormError, check_group_name, field, int_field

# SubscriptionGroupConfig's defaults (rocketmq-dashboard's "Add" dialog starts from them).
DEFAULTS: dict[str, Any] = {
    "groupName": "",
    "consumeEnable": True,
    "consumeBroadcastEnable": True,
    "consumeMessageOrderly": False,
    "retryQueueNums": 1,
    "retryMaxTimes": 16,
    "brokerId": 0,
    "whichBrokerWhenConsumeSlowly": 1,
}
FLAGS = ("consumeEnable", "consumeBroadcastEnable", "consumeMessageOrderly")
# (field, label, low, high). A retry topic gets one queue per retryQueueNums; past the
# delay levels (18) a retry waits two hours, so more than 64 tries are never useful.
NUMBERS = (
    ("retryQueueNums", "Retry queue nums", 1, 64),
    ("retryMaxTimes", "Retry max times", 0, 64),
    ("brokerId", "Broker id", 0, 1023),
    ("whichBrokerWhenConsumeSlowly", "Which broker when consume slowly", 0, 1023),
)


@dataclass(frozen=True, slots=True)
class Targets:
    clusters: tuple[str, ...]
    brokers: tuple[str, ...]


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def form_values(form: FormData) -> dict[str, Any]:
    """What was posted, as the form shows it again after an error."""
    values: dict[str, Any] = {k: form.get(k, "") for k in DEFAULTS if k not in FLAGS}
    values.update({k: checked(form, k) for k in FLAGS})
    return values


def read_group_config(form: FormData) -> dict[str, Any]:
    """The SubscriptionGroupConfig to send (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP's body).

    Raises:
        FormError: a field is missing or out of range.
    """
    config: dict[str, Any] = {"groupName": check_group_name(field(form, "groupName", "Group name"))}
    config.update({flag: checked(form, flag) for flag in FLAGS})
    for name, label, low, high in NUMBERS:
        config[name] = int_field(form, name, label, low, high)
    return config


def posted_targets(form: FormData) -> Targets:
    return Targets(
        tuple(v for v in form.getlist("cluster") if isinstance(v, str) and v),
        tuple(v for v in form.getlist("broker") if isinstance(v, str) and v),
    )


def read_targets(form: FormData) -> Targets:
    """The chosen clusters and brokers.

    Raises:
        FormError: none was chosen.
    """
    targets = posted_targets(form)
    if not targets.clusters and not targets.brokers:
        raise FormError("Choose at least one cluster or broker to apply the group to.")
    return targets


def config_form_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """A broker's config of the group as the edit form's starting values."""
    return {key: config.get(key, default) for key, default in DEFAULTS.items()}
