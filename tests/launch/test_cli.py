"""``fairdrop``'s command line itself (launch/cli.py): the version, every option's
help, and the options that are refused before anything starts."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from launch.cli import _parser


def _fairdrop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_the_version_is_the_installed_package_s(flag: str) -> None:
    answer = _fairdrop(flag)

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == f"fairdrop {version('fairdrop')}\n"


def _parsers(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_subcommand_of_every_command_has_help() -> None:
    without_help = []
    walked = []
    for path, parser in _parsers(_parser(), "fairdrop"):
        walked.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                # The one-line help each subcommand shows in its parent's --help.
                named = {choice.dest: choice.help for choice in action._choices_actions}
                without_help += [f"{path} {n}" for n in action.choices if not named.get(n)]
            elif not action.help or action.help == argparse.SUPPRESS:
                without_help.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    # The walk reaches the nested commands, so it would see an option added there.
    assert {"fairdrop events create", "fairdrop db upgrade", "fairdrop demo"} <= set(walked)
    assert without_help == []


def test_a_drop_with_fans_refuses_a_port_it_would_not_use() -> None:
    answer = _fairdrop("demo", "--fans", "5", "--port", "8123")

    assert answer.returncode == 2
    assert answer.stderr.strip().splitlines() == [
        "--host and --port are for the live demo: a drop with --fans picks its own port"
    ]


@pytest.mark.parametrize("port", ["http", "-1", "65536"])
def test_a_port_that_is_not_one_is_a_usage_error(port: str) -> None:
    answer = _fairdrop("run", "--port", port)

    assert answer.returncode == 2
    assert "argument --port" in answer.stderr and "Traceback" not in answer.stderr
