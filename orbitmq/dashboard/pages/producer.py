"""Producer: the online producers of a group, as a broker of the topic sees them
(GET_PRODUCER_CONNECTION_LIST after the topic's route, as rocketmq-dashboard does)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orbitmq.admin.tables import version_desc
from orbitmq.client.admin_bodies import ClientConnection
from orbitmq.dashboard.context import CALL_ERRORS, describe_error
from orbitmq.dashboard.pages.common import FormError, check_group_name, check_topic_name, render
from orbitmq.dashboard.security import console_of


@dataclass(frozen=True, slots=True)
class ProducerRow:
    client_id: str
    client_addr: str
    language: str
    version_desc: str


def producer_rows(connections: list[ClientConnection]) -> list[ProducerRow]:
    return [
        ProducerRow(c.client_id, c.client_addr, c.language, version_desc(c.version))
        for c in connections
    ]


async def producer_page(request: Request) -> Response:
    console = console_of(request)
    topic = request.query_params.get("topic", "").strip()
    group = request.query_params.get("group", "").strip()
    connections: list[ProducerRow] | None = None
    error = None
    if topic or group:
        try:
            check_topic_name(topic)
            check_group_name(group)
            answer = await console.bounded(console.admin.examine_producer_connection(group, topic))
            connections = producer_rows(answer)
        except FormError as exc:
            error = str(exc)
        except CALL_ERRORS as exc:
            reason = describe_error(exc, console.config.admin_timeout)
            error = f"Producers of {group} for {topic} not found: {reason}"
    return render(
        request, "producer.html", topic=topic, group=group, connections=connections, error=error
    )


ROUTES: list[BaseRoute] = [Route("/producer", producer_page)]
