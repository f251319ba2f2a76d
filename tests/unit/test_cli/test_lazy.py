"""The lazy group behind `photostream` and `photostream bench`: help without imports, load on use."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from cli.bench import SCENARIOS, bench
from cli.lazy import LazyGroup
from cli.main import VERBS, cli


@click.group(
    cls=LazyGroup,
    entries={
        "hello": ("tests.unit.test_cli.test_lazy:hello", "Say hello."),
        "absent": ("no_such_module_anywhere:command", "Listed, never imported by help."),
        "plain": ("tests.unit.test_cli.test_lazy:NOT_A_COMMAND", "Not a click command."),
    },
    section="Things",
)
def group() -> None:
    """A group for the tests."""


@click.command()
def hello() -> None:
    click.echo("hello")


NOT_A_COMMAND = object()


def test_help_lists_every_entry_in_its_section_without_importing() -> None:
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Things:" in result.output
    for name, help_text in [("absent", "Listed, never imported"), ("hello", "Say hello.")]:
        assert any(
            line.split()[:1] == [name] and help_text in line for line in result.output.splitlines()
        )


def test_an_entry_is_imported_and_run_on_use() -> None:
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello\n"


def test_an_unknown_name_is_a_usage_error() -> None:
    result = CliRunner().invoke(group, ["nope"])
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.output


def test_an_entry_that_is_not_a_command_fails_loudly() -> None:
    with pytest.raises(TypeError, match="NOT_A_COMMAND is not a click command"):
        group.get_command(click.Context(group), "plain")


@pytest.mark.parametrize(
    ("command", "entries", "section"),
    [(cli, VERBS, "Commands:"), (bench, SCENARIOS, "Scenarios:")],
)
def test_photostream_help_lists_its_verbs(
    command: click.Group, entries: dict[str, tuple[str, str]], section: str
) -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split(section, 1)[1]
    for name in entries:
        assert f"  {name} " in listed


def test_top_level_help_imports_no_verb_module() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cli.main import cli\n"
        "CliRunner().invoke(cli, ['--help'])\n"
        "CliRunner().invoke(cli, ['bench', '--help'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'faust', 'cassandra', 'PIL', 'launcher'} or m.startswith('bench.'))\n"
        "print(' '.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
