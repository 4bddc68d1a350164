"""`mqadmin` / `orbitmq admin`: the click group holding every admin command.

`mqadmin` alone lists the commands (as MQAdminStartup does), `mqadmin help CMD` and
`mqadmin CMD -h` print a command's usage. Usage errors exit with code 1, like every
other failure of an admin command.
"""

from __future__ import annotations

from typing import Any

import click

from orbitmq.admin.commands import cluster, message, topic

COMMANDS: list[click.Command] = [*topic.COMMANDS, *cluster.COMMANDS, *message.COMMANDS]

HELP_LINE_FORMAT = "   %-20s %s"


class AdminGroup(click.Group):
    """Keeps RocketMQ's command order in listings; usage errors exit with 1, not 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise


def command_listing(group: click.Group, prog: str = "mqadmin") -> str:
    """MQAdminStartup.printHelp."""
    lines = ["The most commonly used mqadmin commands are:"]
    for name, command in group.commands.items():
        if name == "help":
            continue
        lines.append(HELP_LINE_FORMAT % (name, command.get_short_help_str(limit=80)))
    lines.append("")
    lines.append(f"See '{prog} help <command>' for more information on a specific command.")
    return "\n".join(lines)


@click.group(
    cls=AdminGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="RocketMQ's admin commands (mqadmin) for OrbitMQ.",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        click.echo(command_listing(main, _prog_name(ctx)))


def _prog_name(ctx: click.Context) -> str:
    return "mqadmin" if ctx.parent is None else ctx.command_path


for _command in COMMANDS:
    main.add_command(_command)


@main.command("help", help="Print the usage of a command")
@click.argument("command_name", required=False)
@click.pass_context
def help_command(ctx: click.Context, command_name: str | None) -> None:
    parent = ctx.parent
    assert parent is not None
    if command_name is None:
        click.echo(command_listing(main, _prog_name(parent)))
        return
    command = main.get_command(parent, command_name)
    if command is None:
        raise click.UsageError(f"the command {command_name!r} does not exist")
    with click.Context(command, info_name=command_name, parent=parent) as sub:
        click.echo(command.get_help(sub))
