"""Plumbing shared by the mqadmin commands: the `-n` option, running a coroutine, errors.

Each command body is one coroutine run by `run_command`, under one overall time budget.
Anything OrbitMQ raises on purpose (and bad values, and OS errors) becomes one line on
stderr, `<command> command failed: <why>`, and exit code 1; a traceback is printed only
for a bug (an exception we did not expect).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from orbitmq.client.errors import (
    MQBrokerError,
    NoRouteError,
    RemotingConnectError,
    RequestTimeoutError,
    TopicNotExistError,
)
from orbitmq.errors import OrbitMQError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESRV_ADDR = "127.0.0.1:9876"
DEFAULT_COMMAND_TIMEOUT = 60.0


class CommandError(Exception):
    """A command cannot go on; the message is what the operator reads."""


def namesrv_option(fn: F) -> F:
    """`-n/--namesrvAddr`: NameServer list, `;` separated (RocketMQ's flag)."""
    return click.option(
        "-n",
        "--namesrvAddr",
        "namesrv_addr",
        default=None,
        metavar="ADDR",
        help=(
            "Name server address list, eg: '192.168.0.1:9876;192.168.0.2:9876' "
            f"(default: $NAMESRV_ADDR, else {DEFAULT_NAMESRV_ADDR})"
        ),
    )(fn)


def resolve_namesrv(namesrv_addr: str | None) -> str:
    """The `-n` value, else $NAMESRV_ADDR, else the standalone default."""
    value = (namesrv_addr or os.environ.get("NAMESRV_ADDR") or DEFAULT_NAMESRV_ADDR).strip()
    if not value.replace(";", "").strip():
        raise click.BadParameter("the NameServer address list is empty", param_hint="-n")
    return value


def describe_error(exc: BaseException) -> str:
    """One line an operator can act on."""
    if isinstance(exc, RemotingConnectError):
        return f"{exc} (is the server running? check -n / NAMESRV_ADDR)"
    if isinstance(exc, RequestTimeoutError):
        return f"{exc} (the server did not answer in time)"
    if isinstance(exc, TopicNotExistError):
        return f"topic not found: {exc.remark or exc}"
    if isinstance(exc, MQBrokerError):
        return f"the server refused: CODE: {exc.code} DESC: {exc.remark or '-'}"
    if isinstance(exc, NoRouteError):
        return f"{exc} (create the topic first: mqadmin updateTopic)"
    if isinstance(exc, TimeoutError):
        return "the command did not finish in time"
    text = str(exc)
    return text if text else type(exc).__name__


def setup_logging() -> None:
    """Client warnings (e.g. a NameServer failing over) stay quiet unless they matter."""
    level = os.environ.get("ORBITMQ_ADMIN_LOG", "ERROR").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.ERROR),
        format="%(asctime)s %(levelname)s %(name)s - %(message)s",
        stream=sys.stderr,
    )


def fail(command: str, message: str) -> NoReturn:
    click.echo(f"{command} command failed: {message}", err=True)
    sys.exit(1)


def run_command(
    command: str,
    coro: Coroutine[Any, Any, None],
    timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> None:
    """Run one command body; map expected failures to stderr + exit code 1."""
    setup_logging()

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    try:
        asyncio.run(bounded())
    except (CommandError, OrbitMQError, ValueError, OSError, TimeoutError) as exc:
        fail(command, describe_error(exc))
    except KeyboardInterrupt:
        fail(command, "interrupted")
