"""Plumbing shared by the mqadmin commands: common options, output, running, errors.

Every command is declared with `admin_command`, which adds RocketMQ's `-n` plus OrbitMQ
options: `--json` (the result as JSON on stdout, for scripts), `--debug` (a traceback with
a failure), `--accessKey`/`--secretKey`, the ACL account every request is signed with
(without them, RocketMQ's `$ORBITMQ_HOME/conf/tools.yml` keys `accessKey`/`secretKey` if
that file exists), and `--tls`/`--tlsConfigFile`; every client a command makes takes
`client_options()`. Short `-a`/`-s` cannot be global: many of
RocketMQ's commands use them for their own flags (updateTopic -a, updateAclConfig -a/-s),
which name the credentials `--adminAccessKey`/`--adminSecretKey` instead.

A command body is one coroutine run by `run_command` under one
time budget; it prints through `output()`, which writes the RocketMQ table lines, or, with
`--json`, collects the data and prints it once at the end.

Any failure becomes one line on stderr, `<command> command failed: <why>`, and exit code 1;
a traceback is added only with `--debug`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import click

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client.errors import (
    ConnectionBrokenError,
    ConsumerNotOnlineError,
    MQBrokerError,
    NoRouteError,
    RemotingConnectError,
    RequestTimeoutError,
    TopicNotExistError,
)
from orbitmq.config_file import ConfigError
from orbitmq.errors import OrbitMQError
from orbitmq.remoting.tls import TlsConfig, split_tls_properties

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESRV_ADDR = "127.0.0.1:9876"
DEFAULT_COMMAND_TIMEOUT = 60.0


class CommandError(Exception):
    """A command cannot go on; the message is what the operator reads."""


@dataclass
class Output:
    """Where a command's result goes: table lines, or one JSON document (`--json`)."""

    json_mode: bool = False
    debug: bool = False
    data: Any = None
    records: list[Any] = field(default_factory=list)

    def line(self, text: str = "") -> None:
        """A line of the RocketMQ-style output (dropped in JSON mode)."""
        if not self.json_mode:
            click.echo(text)

    def lines(self, texts: list[str]) -> None:
        for text in texts:
            self.line(text)

    def record(self, item: Any) -> None:
        """One item of a JSON array result."""
        self.records.append(item)

    def result(self, data: Any) -> None:
        """The whole JSON result (instead of `record`ed items)."""
        self.data = data

    def finish(self) -> None:
        if self.json_mode:
            document = self.data if self.data is not None else self.records
            click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


_output = Output()


def output() -> Output:
    """The running command's Output."""
    return _output


class JavaBool(click.ParamType):
    """`true` or `false` (any case), as RocketMQ's boolean flags take them."""

    name = "true|false"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            self.fail(f"{value!r} is not true or false", param, ctx)
        return text == "true"


JAVA_BOOL = JavaBool()


def namesrv_option(fn: F) -> F:
    """`-n/--namesrvAddr`: NameServer list, `;` separated (RocketMQ's flag)."""
    return click.option(
        "-n",
        "--namesrvAddr",
        "namesrv_addr",
        default=None,
        metavar="ADDR",
        help="Name server address list, eg: '192.168.0.1:9876;192.168.0.2:9876'",
    )(fn)


_credentials: SessionCredentials | None = None
_tls: bool | TlsConfig = False


def client_options() -> dict[str, Any]:
    """What every client a command makes takes: the running command's ACL credentials
    (None: requests are not signed) and TLS (False: plain)."""
    return {"credentials": _credentials, "tls": _tls}


def _resolve_tls(use_tls: bool, config_file: str | None) -> bool | TlsConfig:
    """`--tls` (RocketMQ's -Dtls.enable=true) and `--tlsConfigFile` (-Dtls.config.file,
    whose tls.enable=true turns TLS on too)."""
    if config_file is None:
        return use_tls
    if not os.path.isfile(config_file):
        raise click.BadParameter(f"{config_file} is not a file", param_hint="--tlsConfigFile")
    try:
        _, config = split_tls_properties({"tls.config.file": config_file}, "mqadmin")
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--tlsConfigFile") from None
    return config if use_tls or config.client_enable else False


def tools_yml_path() -> str:
    home = os.path.expanduser(os.environ.get("ORBITMQ_HOME", "~/orbitmq"))
    return os.path.join(home, "conf", "tools.yml")


def _resolve_credentials(
    access_key: str | None, secret_key: str | None, flags: tuple[str, str]
) -> SessionCredentials | None:
    """The options, else tools.yml (RocketMQ's AclUtils.getAclRPCHook), else None."""
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise click.UsageError(f"{flags[0]} and {flags[1]} must be given together")
        return SessionCredentials(access_key, secret_key)
    path = tools_yml_path()
    if not os.path.exists(path):
        return None
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.UsageError(f"cannot read ACL credentials from {path}: {exc}") from exc
    if not isinstance(data, dict) or not data.get("accessKey") or not data.get("secretKey"):
        raise click.UsageError(f"{path} needs accessKey and secretKey")
    return SessionCredentials(str(data["accessKey"]), str(data["secretKey"]))


def admin_command(
    name: str,
    help: str,
    credential_flags: tuple[str, str] = ("--accessKey", "--secretKey"),
) -> Callable[[Callable[..., None]], click.Command]:
    """`@click.command` with RocketMQ-style help and `-n`, `--json`, `--debug` and the
    credentials options (`credential_flags`: where the command's own flags take
    `--accessKey`/`--secretKey`)."""

    def decorate(fn: Callable[..., None]) -> click.Command:
        @functools.wraps(fn)
        def wrapper(
            *args: Any,
            json_output: bool,
            debug: bool,
            acl_access_key: str | None,
            acl_secret_key: str | None,
            use_tls: bool,
            tls_config_file: str | None,
            **kwargs: Any,
        ) -> None:
            global _output, _credentials, _tls
            _output = Output(json_mode=json_output, debug=debug)
            _credentials = _resolve_credentials(acl_access_key, acl_secret_key, credential_flags)
            _tls = _resolve_tls(use_tls, tls_config_file)
            fn(*args, **kwargs)

        from orbitmq.admin.help import AdminCommand

        decorated: Any = click.option(
            "--tlsConfigFile",
            "tls_config_file",
            default=None,
            metavar="FILE",
            help="tls.client.* settings, as -Dtls.config.file (OrbitMQ)",
        )(wrapper)
        decorated = click.option(
            "--tls", "use_tls", is_flag=True, help="Dial with TLS, as -Dtls.enable=true (OrbitMQ)"
        )(decorated)
        decorated = click.option(
            credential_flags[1],
            "acl_secret_key",
            default=None,
            metavar="KEY",
            help="ACL secretKey requests are signed with (OrbitMQ; default: tools.yml)",
        )(decorated)
        decorated = click.option(
            credential_flags[0],
            "acl_access_key",
            default=None,
            metavar="KEY",
            help="ACL accessKey requests are signed with (OrbitMQ; default: tools.yml)",
        )(decorated)
        decorated = click.option(
            "--debug", is_flag=True, help="Print the traceback of a failure (OrbitMQ)"
        )(decorated)
        decorated = click.option(
            "--json", "json_output", is_flag=True, help="Print the result as JSON (OrbitMQ)"
        )(decorated)
        decorated = namesrv_option(decorated)
        command: click.Command = click.command(name, cls=AdminCommand, help=help)(decorated)
        return command

    return decorate


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
    if isinstance(exc, ConnectionBrokenError):
        return f"{exc} (the server closed it; if it has tls.server.mode=enforcing, add --tls)"
    if isinstance(exc, TopicNotExistError):
        return f"topic not found: {exc.remark or exc}"
    if isinstance(exc, ConsumerNotOnlineError):
        return f"consumer group not found or not online: {exc.remark or exc}"
    if isinstance(exc, MQBrokerError):
        return f"the server refused: CODE: {exc.code} DESC: {exc.remark or '-'}"
    if isinstance(exc, NoRouteError):
        return f"{exc} (create the topic first: mqadmin updateTopic)"
    if isinstance(exc, TimeoutError):
        return "the command did not finish in time"
    text = " ".join(str(exc).split())
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


def report_failure(command: str, exc: BaseException) -> NoReturn:
    """One line for any failure; unexpected ones name their type; `--debug` adds the
    traceback."""
    expected = (CommandError, OrbitMQError, ValueError, OSError, TimeoutError, click.ClickException)
    message = exc.format_message() if isinstance(exc, click.ClickException) else describe_error(exc)
    if not isinstance(exc, expected):
        message = f"{type(exc).__name__}: {message} (a bug; --debug shows the traceback)"
    if _output.debug:
        traceback.print_exception(exc, file=sys.stderr)
    fail(command, message)


def run_command(
    command: str,
    coro: Coroutine[Any, Any, None],
    timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
) -> None:
    """Run one command body (None: no time limit); any failure becomes one line on stderr
    and exit code 1."""
    setup_logging()

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    try:
        asyncio.run(bounded())
        _output.finish()
    except KeyboardInterrupt:
        fail(command, "interrupted")
    except BrokenPipeError:  # stdout closed early (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        report_failure(command, exc)
