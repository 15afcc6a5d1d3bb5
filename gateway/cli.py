"""``hiegate``: the gateway's command line.

Every failure the project anticipates prints one line ``hiegate: HG-xxxx: message`` on stderr, including a
file or folder the user named that cannot be read or written (``HG-1002``). Exit status: 0 success, 1 an
operation failed, 2 bad usage or a bad setting (as argparse does for usage errors), 141 (128 + SIGPIPE, no
message) when the reader of the output went away (``hiegate directory list | head -1``). Anything else is a
bug: one line too, and its traceback with ``HIEGATE_LOG_LEVEL=DEBUG``.

Light at import: building the parser (all that ``--help`` and a usage error need) loads no command's
machinery, nor the settings; each handler imports what it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from fhir_facade.api.cli import add_serve_commands
from fhir_facade.ccda.cli import add_convert_commands
from gateway.audit.cli import add_audit_commands
from gateway.directory_cli import add_directory_commands
from gateway.pull_cli import add_pull_commands
from gateway.respond_cli import add_responding_commands
from gateway.sandbox_cli import add_sandbox_commands
from xca.errors import ConfigError, HieGatewayError, PathAccessError, path_problem

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["main"]

log = logging.getLogger("hiegate")

Handler: TypeAlias = "Callable[[argparse.Namespace, Settings], int]"
"""Every command sets ``handler`` on its parser; ``main`` calls it with the parsed arguments and settings."""


def _config_show(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.config import masked_settings, settings_as_json

    if args.json:
        print(json.dumps(settings_as_json(settings), indent=2))
    else:
        shown = masked_settings(settings)
        width = max(len(name) for name in shown)
        for name, value in shown.items():
            print(f"{name:<{width}}  {value}")
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.config import masked_settings
    from gateway.store import Database, current_revision

    db = Database(settings.database_url)
    try:
        before = current_revision(db.engine)
        after = db.upgrade()
    finally:
        db.dispose()
    where = masked_settings(settings)["database_url"]
    if before == after:
        print(f"database {where} already at revision {after}")
    else:
        print(f"database {where} upgraded from {before or 'empty'} to revision {after}")
    return 0


def _db_current(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store import Database, current_revision, head_revision

    db = Database(settings.database_url)
    try:
        revision = current_revision(db.engine)
    finally:
        db.dispose()
    state = "up to date" if revision == head_revision() else f"behind head {head_revision()}"
    print(f"revision {revision or 'none (empty database)'}: {state}")
    return 0


def _certs_init(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.certs_cli import certs_init

    return certs_init(settings, directory=args.dir, force=args.force)


def _certs_check(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.certs_cli import certs_check

    return certs_check(settings, directory=args.dir)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo import run_demo

    return run_demo(settings)


# Feature packages contribute their own command groups: a function that adds parsers to ``commands``.
_FEATURE_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    add_audit_commands,
    add_convert_commands,
    add_directory_commands,
    add_pull_commands,
    add_responding_commands,
    add_sandbox_commands,
    add_serve_commands,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hiegate", description="An open on-ramp to health information networks."
    )
    parser.add_argument("--config", type=Path, help=_CONFIG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config = commands.add_parser("config", help="inspect the effective settings")
    config_sub = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", help="print the effective settings, secrets masked")
    show.add_argument("--json", action="store_true", help="print as JSON")
    show.set_defaults(handler=_config_show)

    db = commands.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest revision").set_defaults(
        handler=_db_upgrade
    )
    db_sub.add_parser("current", help="show the applied revision").set_defaults(handler=_db_current)

    certs = commands.add_parser("certs", help="development PKI")
    certs_sub = certs.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = certs_sub.add_parser(
        "init", help="create a dev CA, gateway TLS/signing certificates and trust bundle"
    )
    init.add_argument("--dir", type=Path, help="target folder (default: the certs_dir setting)")
    init.add_argument("--force", action="store_true", help="replace existing keys and certificates")
    init.set_defaults(handler=_certs_init)
    check = certs_sub.add_parser("check", help="validate the gateway certificates against the trust bundle")
    check.add_argument("--dir", type=Path, help="folder to check (default: the certs_dir setting)")
    check.set_defaults(handler=_certs_check)

    commands.add_parser("demo", help="run the most complete flow that exists end to end").set_defaults(
        handler=_demo
    )
    for add_commands in _FEATURE_COMMANDS:
        add_commands(commands)
    _accept_config_everywhere(parser)
    return parser


_CONFIG_HELP = "TOML settings file (default: $HIEGATE_CONFIG, ./hiegate.toml)"


def _accept_config_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--config`` follow any command (``hiegate config show --config x.toml``), same meaning.

    Added after the feature packages registered their commands, so none of them has to remember it. The
    default is SUPPRESS: a command that does not repeat ``--config`` keeps the value given before it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=_CONFIG_HELP)
                _accept_config_everywhere(command)


def _path_error(exc: OSError) -> PathAccessError:
    problem = path_problem(exc)
    if exc.errno == errno.EEXIST and Path(str(exc.filename)).is_dir():
        problem = "already exists"  # an exclusive create, not a folder blocked by a file
    return PathAccessError(f"{exc.filename}: {problem}", detail={"path": str(exc.filename)})


_BROKEN_PIPE = 141
"""128 + SIGPIPE: the status a shell reports for a command whose reader went away (``hiegate ... | head``)."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            # Output still buffered fails here, not in the interpreter's exit (where it would be reported).
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: stop quietly, as Unix tools do. Python's recipe for SIGPIPE: point
        # stdout at devnull so that the flush at exit does not fail again (a stdout without a descriptor,
        # as under a test's capture, has nothing to flush there).
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return _BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    from gateway.config import load_settings  # after the arguments: --help and usage errors need no settings

    settings: Settings | None = None
    try:
        settings = load_settings(args.config)
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        # Alembic reports every migration step and httpx every request at INFO; the commands print their own
        # summaries, so these libraries speak only at WARNING unless DEBUG asks for every detail. httpx stays
        # at WARNING even then: its request lines carry whole URLs, and a directory URL's query may hold an
        # API key.
        quiet = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
        for library in ("alembic", "httpcore"):
            logging.getLogger(library).setLevel(quiet)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        handler: Handler = args.handler
        return handler(args, settings)
    except ConfigError as exc:
        print(f"hiegate: {exc}", file=sys.stderr)
        return 2
    except HieGatewayError as exc:
        print(f"hiegate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # the reader of stdout went away: main() ends quietly
    except OSError as exc:
        # With a file name it is a path the user gave (or a setting named); without one (a socket, a
        # pipe) it is not the user's input and is reported like any other unexpected error below.
        if exc.filename is None:
            return _unexpected(exc, settings)
        print(f"hiegate: {_path_error(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        return _unexpected(exc, settings)


def _unexpected(exc: Exception, settings: Settings | None) -> int:
    """A bug, not a user error: one line, and the traceback when DEBUG asks for every detail."""
    if settings is not None and settings.log_level == "DEBUG":
        raise exc
    print(
        f"hiegate: unexpected error: {type(exc).__name__}: {exc} "
        "(run with HIEGATE_LOG_LEVEL=DEBUG for the traceback)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
