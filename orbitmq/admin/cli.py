"""`mqadmin` / `orbitmq admin`: the click group holding every admin command.

`mqadmin` alone lists the commands in RocketMQ's order (MQAdminStartup.initCommand, which
groups them: topics and groups, messages, connections and offsets, clusters, NameServer,
maintenance, statistics), `mqadmin help CMD` and `mqadmin CMD -h` print a command's usage
as RocketMQ does, and `mqadmin completion bash` prints a bash completion script built from
the same table. Any failure, a usage error included, is one line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from orbitmq.admin.commands import (
    acl,
    broker,
    cluster,
    consumer,
    group,
    message,
    namesrv,
    offset,
    print_msg,
    query,
    stats,
    topic,
    topic_admin,
    trace,
)
from orbitmq.admin.help import bash_completion, command_listing, rocketmq_help
from orbitmq.admin.runner import report_failure

# MQAdminStartup.initCommand order (apache/rocketmq 4.9.7), for the commands OrbitMQ has.
ROCKETMQ_ORDER = [
    "updateTopic",
    "deleteTopic",
    "updateSubGroup",
    "deleteSubGroup",
    "updateBrokerConfig",
    "updateTopicPerm",
    "topicRoute",
    "topicStatus",
    "topicClusterList",
    "brokerStatus",
    "queryMsgById",
    "queryMsgByKey",
    "queryMsgByUniqueKey",
    "queryMsgByOffset",
    "queryMsgTraceById",
    "printMsg",
    "printMsgByQueue",
    "sendMsgStatus",
    "brokerConsumeStats",
    "producerConnection",
    "consumerConnection",
    "consumerProgress",
    "consumerStatus",
    "cloneGroupOffset",
    "clusterList",
    "topicList",
    "updateKvConfig",
    "deleteKvConfig",
    "wipeWritePerm",
    "addWritePerm",
    "resetOffsetByTime",
    "cleanExpiredCQ",
    "cleanUnusedTopic",
    "statsAll",
    "allocateMQ",
    "checkMsgSendRT",
    "clusterRT",
    "getNamesrvConfig",
    "updateNamesrvConfig",
    "getBrokerConfig",
    "sendMessage",
    "consumeMessage",
    "updateAclConfig",
    "deleteAclConfig",
    "clusterAclConfigVersion",
    "updateGlobalWhiteAddr",
    "getAclConfig",
]

_ALL: dict[str, click.Command] = {
    c.name or "": c
    for module in (
        acl,
        topic,
        topic_admin,
        group,
        consumer,
        offset,
        broker,
        cluster,
        stats,
        namesrv,
        message,
        query,
        trace,
        print_msg,
    )
    for c in module.COMMANDS
}
COMMANDS: list[click.Command] = [_ALL[n] for n in ROCKETMQ_ORDER if n in _ALL] + [
    c for n, c in _ALL.items() if n not in ROCKETMQ_ORDER
]


class AdminGroup(click.Group):
    """Keeps RocketMQ's command order; every failure is one line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def get_help(self, ctx: click.Context) -> str:
        return command_listing(COMMANDS)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            click.echo(f"The sub command {name} not exist.", err=True)
            sys.exit(1)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.UsageError as exc:
            command = exc.ctx.command.name if exc.ctx is not None else None
            name = command if command and command != ctx.command.name else "mqadmin"
            hint = f" (see 'mqadmin {name} -h')" if name != "mqadmin" else ""
            click.echo(f"{name} command failed: {exc.format_message()}{hint}", err=True)
            sys.exit(1)
        except click.ClickException:
            raise
        except Exception as exc:
            report_failure(ctx.invoked_subcommand or "mqadmin", exc)


@click.group(
    cls=AdminGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    help="RocketMQ's admin commands (mqadmin) for OrbitMQ.",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        click.echo(command_listing(COMMANDS))


for _command in COMMANDS:
    main.add_command(_command)


@main.command("help", help="Print the usage of a command")
@click.argument("command_name", required=False)
def help_command(command_name: str | None) -> None:
    if command_name is None:
        click.echo(command_listing(COMMANDS))
        return
    command = _ALL.get(command_name)
    if command is None:
        click.echo(f"The sub command {command_name} not exist.", err=True)
        sys.exit(1)
    click.echo(rocketmq_help(command))


@main.command("completion", help="Print a shell completion script (bash)")
@click.argument("shell", type=click.Choice(["bash"]), default="bash")
def completion_command(shell: str) -> None:
    click.echo(bash_completion(COMMANDS), nl=False)
