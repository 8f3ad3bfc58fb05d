"""The ``tidings`` command (``pip install 'tidings[cli]'``): emit, tail, history, serve, demo, schema.

Each command imports what it needs when it runs (rich, httpx, uvicorn,
redis), so ``tidings --help`` stays quick. Errors are one line on stderr:
exit status 2 for a mistake in the command, 1 for a failure of what it
talks to (see ``_errors.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tidings`` script and of ``python -m tidings``."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        import typer
    except ImportError as exc:
        _fail(f"the tidings command needs the cli extra: pip install 'tidings[cli]' ({exc})")
        return 2

    from ._app import cli
    from ._errors import CliError

    try:  # typer >= 0.2x ships its own click
        from typer import TyperException as ClickError
    except ImportError:  # pragma: no cover -- older typer on the click package
        from click import ClickException as ClickError  # type: ignore[assignment]

    command = typer.main.get_command(cli)
    try:
        result = command.main(
            args=list(sys.argv[1:] if argv is None else argv), prog_name="tidings", standalone_mode=False
        )
    except ClickError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # ``tidings`` alone: the help text, as --help would print it.
            sys.stdout.write(exc.format_message() + "\n")
            return 0
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(exc.format_message().rstrip(".") + hint)
        return exc.exit_code
    except typer.Abort:
        return 130
    except CliError as exc:
        _fail(exc.message)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    return result if isinstance(result, int) else 0


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


__all__ = ["main", "run"]
