"""The `annexa` command line. Errors in user input print one line and exit 2, never a traceback."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from agent import __version__
from agent.catalogue import UnknownControlError
from agent.cli.app import App
from agent.cli.params import harden
from agent.errors import AnnexaError
from agent.logsetup import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", envvar="ANNEXA_CONFIG", type=click.Path(dir_okay=False),
              help="Config file (default ./annexa.yaml; env ANNEXA_CONFIG).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", type=click.Choice(["auto", "text", "json"]), default="auto", show_default=True,
              help="auto: readable text on a terminal, JSON lines otherwise.")
@click.version_option(__version__, prog_name="annexa")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str, log_format: str) -> None:
    """Annexa: continuous evidence for ISO/IEC 27001:2022 Annex A controls."""
    configure_logging(log_level, log_format)
    ctx.obj = App(config_path)


@cli.result_callback()
@click.pass_context
def _show_notes(ctx: click.Context, *_: object, **__: object) -> None:
    """Notes gathered while the command ran (e.g. a 2013 control id mapped to 2022), once it succeeded."""
    for text in getattr(ctx.obj, "notes", []):
        click.echo(text, err=True)


def _register() -> None:
    from agent.cli import (
        cmd_controls,
        cmd_db,
        cmd_findings,
        cmd_init,
        cmd_rules,
        cmd_run,
        cmd_runs,
        cmd_verify,
    )

    for module in (cmd_init, cmd_run, cmd_runs, cmd_controls, cmd_findings, cmd_rules, cmd_db, cmd_verify):
        for command in module.COMMANDS:
            cli.add_command(command)
    import importlib

    for optional in ("cmd_demo", "cmd_evidence", "cmd_export", "cmd_soa", "cmd_metrics", "cmd_daemon"):
        try:
            module = importlib.import_module(f"agent.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.cli.{optional}":
                raise
            continue
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
harden(cli)


GLOBAL_OPTIONS = ("--config",)


def hoist_global_options(argv: list[str]) -> list[str]:
    """Accept `annexa run --config X` as well as `annexa --config X run` (the contract allows both)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and i > 0:
            if "=" in arg:
                front.append(arg)
            elif i + 1 < len(argv):
                front.extend([arg, argv[i + 1]])
                i += 1
            else:
                rest.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


MAX_ERROR_CHARS = 1000


def one_line(text: str) -> str:
    """An error message as one printable line: control characters escaped, at most MAX_ERROR_CHARS long.

    Messages quote file names, keys and values from hostile input; a newline or an escape sequence in
    one of them must not split the message or reach the terminal.
    """
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return out if len(out) <= MAX_ERROR_CHARS else out[: MAX_ERROR_CHARS - 3] + "..."


def read_only_write(exc: BaseException) -> str | None:
    """One line for a write refused by read-only media (a store copy on a read-only mount), else None."""
    import errno
    import sqlite3

    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if isinstance(orig, sqlite3.OperationalError) and "readonly database" in str(orig):
        return ("the store database is read-only (a read-only copy?): this command changes the store; "
                "findings, controls, runs, export and verify --store read a read-only copy")
    if isinstance(exc, OSError) and exc.errno == errno.EROFS and exc.filename:
        return f"cannot write {exc.filename}: read-only file system"
    return None


def _fail(message: str, code: int) -> NoReturn:
    click.echo(one_line(f"annexa: {message}"), err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        cli.main(args=args, prog_name="annexa", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # one line, with where to look, instead of click's usage block
        command = exc.ctx.command_path if exc.ctx else "annexa"
        _fail(f"error: {exc.format_message()} (see `{command} --help`)", 2)
    except click.ClickException as exc:  # bad input detected by a command: exit 2, like every input error
        _fail(f"error: {exc.format_message()}", 2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AnnexaError as exc:
        _fail(f"error: {exc}", exc.exit_code)
    except UnknownControlError as exc:
        _fail(f"error: {exc}", 2)
    except KeyboardInterrupt:
        click.echo("interrupted: the run was marked incomplete", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: say so plainly, keep the traceback for --log-level debug
        logging.getLogger("annexa").debug("unexpected error", exc_info=True)
        refused = read_only_write(exc)
        if refused is not None:
            _fail(f"error: {refused}", 2)
        _fail(f"internal error: {type(exc).__name__}: {exc} (re-run with --log-level debug for a traceback)", 70)
