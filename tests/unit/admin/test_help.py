"""mqadmin's self-description: RocketMQ-style usage, the command list in RocketMQ's order,
bash completion from the command table, and the one-line failure contract."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from orbitmq.admin.cli import COMMANDS, ROCKETMQ_ORDER, main
from orbitmq.admin.help import bash_completion, rocketmq_help
from orbitmq.admin.runner import JAVA_BOOL, Output


def test_usage_is_commons_cli_shaped() -> None:
    @click.command("demo")
    @click.option("-t", "--topic", required=True, help="topic name")
    @click.option("-a", "--all", "all_", is_flag=True, help="everything")
    @click.option("--long-only", help="x " * 60)
    def demo(topic: str, all_: bool, long_only: str) -> None:
        pass

    text = rocketmq_help(demo)
    lines = text.splitlines()
    assert lines[0] == "usage: mqadmin demo [-a] [-h] [--long-only <arg>] -t <arg>"
    # the option column is as wide as the widest (" --long-only <arg>", 18), then 3 spaces
    assert lines[1] == f"{' -a,--all':<18}   everything"
    assert lines[2] == f"{' -h,--help':<18}   Print help"
    assert lines[3].startswith(" --long-only <arg>   x x ")
    assert len(lines[3]) <= 110 and lines[4].startswith(" " * 21 + "x ")
    assert lines[-1] == f"{' -t,--topic <arg>':<18}   topic name"


def test_listing_follows_rocketmq_order_and_has_everything() -> None:
    names = [c.name for c in COMMANDS]
    ordered = [n for n in ROCKETMQ_ORDER if n in names]
    assert names[: len(ordered)] == ordered
    assert set(names) <= set(ROCKETMQ_ORDER)  # every command has its RocketMQ place
    result = CliRunner().invoke(main, [], prog_name="mqadmin")
    listed = [line.split()[0] for line in result.output.splitlines()[1 : 1 + len(names)]]
    assert listed == names


def test_completion_script_lists_every_command_and_flag() -> None:
    result = CliRunner().invoke(main, ["completion", "bash"], prog_name="mqadmin")
    assert result.exit_code == 0
    assert result.output == bash_completion(COMMANDS)
    assert result.output.rstrip().endswith("complete -F _mqadmin mqadmin")
    for command in COMMANDS:
        flags = [o for p in command.params if isinstance(p, click.Option) for o in p.opts]
        case = next(
            line
            for line in result.output.splitlines()
            if line.strip().startswith(f"{command.name})")
        )
        assert all(flag in case.split('"')[1].split() for flag in flags)
    bad = CliRunner().invoke(main, ["completion", "zsh"], prog_name="mqadmin")
    assert bad.exit_code == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["topicStatus"], "topicStatus command failed: Missing option '-t' / '--topic'."),
        (["updateSubGroup", "-b", "a:1", "-g", "G", "-s", "yes"], "'yes' is not true or false"),
        (["resetOffsetByTime", "-g", "G", "-t", "T", "-s", "noon"], "yyyy-MM-dd#HH:mm:ss:SSS"),
        (["updateTopicPerm", "-t", "T", "-p", "4"], "one of -b BROKER_ADDR or -c CLUSTER"),
        (["allocateMQ", "-t", "T", "-i", " , "], "give at least one client ip"),
        (["printMsg", "-t", "T", "-c", "klingon"], "unknown charset"),
        (["printMsg", "-t", "T", "-s", "||"], "bad subscribe expression"),
        (["clusterRT", "-a", "0"], "0 is not in the range x>=1"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="mqadmin")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert lines[0].endswith(f"(see 'mqadmin {args[0]} -h')")


def test_java_bool_and_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert JAVA_BOOL.convert("TRUE", None, None) is True
    assert JAVA_BOOL.convert(" false", None, None) is False
    with pytest.raises(click.BadParameter):
        JAVA_BOOL.convert("1", None, None)
    out = Output(json_mode=True)
    out.line("table line")
    out.record({"a": 1})
    out.finish()
    assert capsys.readouterr().out == '[\n  {\n    "a": 1\n  }\n]\n'
    plain = Output()
    plain.line("table line")
    plain.result({"ignored": True})
    plain.finish()
    assert capsys.readouterr().out == "table line\n"
