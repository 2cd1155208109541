"""The command line's structure: every command registered in one place, help shows flags without a type."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from xmempp.cli.app import create_app

COMMANDS = [
    "process",
    "candidates",
    "import",
    "gui",
    "eval",
    "bench",
    "demo",
    "weights download",
    "weights path",
    "weights verify",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_flags_without_a_value_type(command):
    result = CliRunner().invoke(create_app(), [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    help_line = next(line for line in result.output.splitlines() if "--help" in line)
    assert not re.search(r"--help\s+<", help_line)


@pytest.mark.parametrize("command", ["process", "candidates", "bench", "demo"])
def test_network_commands_share_the_engine_options(command):
    result = CliRunner().invoke(create_app(), [command, "--help"], env={"COLUMNS": "200"})
    for flag in ("--model", "--device", "--config"):
        assert flag in result.output, f"{command} lacks {flag}"


def test_candidates_takes_mode():
    result = CliRunner().invoke(create_app(), ["candidates", "--help"], env={"COLUMNS": "200"})
    assert "--mode" in result.output and "xmempp|xmem" in result.output


def test_command_modules_do_not_import_the_app():
    import importlib
    import pkgutil

    import xmempp.cli as cli

    for info in pkgutil.iter_modules(cli.__path__):
        if info.name == "app":
            continue
        module = importlib.import_module(f"xmempp.cli.{info.name}")
        assert not hasattr(module, "app"), f"xmempp.cli.{info.name} imports the app back"


def test_console_script_turns_a_bug_into_one_red_line(monkeypatch, capsys):
    import xmempp.cli.app as cli_app

    def broken() -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("XMEMPP_DEBUG", raising=False)
    monkeypatch.setattr(cli_app, "app", broken)
    with pytest.raises(SystemExit) as info:
        cli_app.main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "ZeroDivisionError" in err and "Traceback" not in err
    monkeypatch.setenv("XMEMPP_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli_app.main()
