"""How mqadmin describes itself: RocketMQ-style usage, the command list, bash completion.

`mqadmin CMD -h` prints what commons-cli's HelpFormatter prints for the Java command
(ServerUtil.printCommandLineHelp, width 110): a `usage:` line with the options sorted by
name, required ones without brackets, then one `-x,--long <arg>  description` line each.
Pure code over the click command table.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

import click

HELP_WIDTH = 110
DESC_PAD = 3
LIST_LINE_FORMAT = "   %-20s %s"


@dataclass(frozen=True, slots=True)
class OptionHelp:
    short: str | None  # "t"
    long: str | None  # "topic"
    takes_value: bool
    required: bool
    description: str

    @property
    def key(self) -> str:
        return (self.short or self.long or "").lower()

    def usage_token(self) -> str:
        name = f"-{self.short}" if self.short else f"--{self.long}"
        token = f"{name} <arg>" if self.takes_value else name
        return token if self.required else f"[{token}]"

    def column(self) -> str:
        names = ",".join(
            n for n in (f"-{self.short}" if self.short else None, f"--{self.long}") if n
        )
        return f" {names} <arg>" if self.takes_value else f" {names}"


def option_help(command: click.Command) -> list[OptionHelp]:
    """The command's options as commons-cli sees them, `-h,--help` included, sorted."""
    found = [OptionHelp("h", "help", False, False, "Print help")]
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        short = next((o[1:] for o in param.opts if not o.startswith("--")), None)
        long = next((o[2:] for o in param.opts if o.startswith("--")), None)
        found.append(
            OptionHelp(short, long, not param.is_flag, bool(param.required), param.help or "")
        )
    return sorted(found, key=lambda o: o.key)


def rocketmq_help(command: click.Command, prog: str = "mqadmin") -> str:
    """HelpFormatter.printHelp(appName, options, autoUsage=true) at width 110."""
    options = option_help(command)
    usage = f"usage: {prog} {command.name} " + " ".join(o.usage_token() for o in options)
    lines = textwrap.wrap(usage, HELP_WIDTH, subsequent_indent=" " * 7, break_on_hyphens=False)
    width = max(len(o.column()) for o in options)
    for o in options:
        head = o.column().ljust(width) + " " * DESC_PAD
        wrapped = textwrap.wrap(o.description, HELP_WIDTH - len(head)) or [""]
        lines.append((head + wrapped[0]).rstrip())
        lines.extend(" " * len(head) + more for more in wrapped[1:])
    return "\n".join(lines)


class AdminCommand(click.Command):
    """A click command whose `-h` looks like the Java command's."""

    def get_help(self, ctx: click.Context) -> str:
        return rocketmq_help(self)


def command_listing(commands: Iterable[click.Command], prog: str = "mqadmin") -> str:
    """MQAdminStartup.printHelp: every command in RocketMQ's order, then how to get help."""
    lines = ["The most commonly used mqadmin commands are:"]
    for command in commands:
        lines.append(LIST_LINE_FORMAT % (command.name, command.get_short_help_str(limit=90)))
    lines.append("")
    lines.append(f"See '{prog} help <command>' for more information on a specific command.")
    lines.append(f'Bash completion: eval "$({prog} completion bash)"')
    return "\n".join(lines)


def _flags(option: OptionHelp) -> str:
    names = (f"-{option.short}" if option.short else "", f"--{option.long}" if option.long else "")
    return " ".join(n for n in names if n)


def bash_completion(commands: Iterable[click.Command], prog: str = "mqadmin") -> str:
    """A bash completion script for `prog`, generated from the command table."""
    cases = []
    names = []
    for command in commands:
        names.append(command.name or "")
        flags = " ".join(_flags(o) for o in option_help(command))
        cases.append(f'        {command.name}) opts="{flags}" ;;')
    func = "_" + "".join(c if c.isalnum() else "_" for c in prog)
    return "\n".join(
        [
            f'# bash completion for {prog}; load with: eval "$({prog} completion bash)"',
            f"{func}() {{",
            '    local cur="${COMP_WORDS[COMP_CWORD]}" opts',
            '    if [ "$COMP_CWORD" -eq 1 ]; then',
            f'        COMPREPLY=($(compgen -W "{" ".join(names)} help completion" -- "$cur"))',
            "        return 0",
            "    fi",
            '    case "${COMP_WORDS[1]}" in',
            *cases,
            f'        help) opts="{" ".join(names)}" ;;',
            '        completion) opts="bash" ;;',
            '        *) opts="" ;;',
            "    esac",
            '    COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
            "}",
            f"complete -F {func} {prog}",
            "",
        ]
    )
