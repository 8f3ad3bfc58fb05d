"""How the CLI fails: one line on stderr and an exit status that says whose fault it was.

* 2 -- the input was wrong (bad JSON, unknown event, schema violation, bad
  APP path, bad option, a Redis URL naming a missing database or a wrong
  password): fix the command;
* 1 -- the world was wrong (Redis or the server unreachable, port taken,
  the server failed): the same command may work later.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """Ends the command with ``message`` on stderr and ``code`` as exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def usage(message: str) -> CliError:
    return CliError(message, EXIT_USAGE)


def require(module: str, extra: str, what: str) -> None:
    """Fail with one line if the optional dependency ``module`` (of ``tidings[extra]``) is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise CliError(f"{what} needs the {extra} extra: pip install 'tidings[{extra}]'")


def from_tidings(exc: BaseException, *, backend: str) -> CliError:
    """Map a tidings error to a ``CliError``; ``backend`` names what was being talked to."""
    from tidings import BackendConfigurationError, BackendError, CursorExpiredError, InvalidInputError

    if isinstance(exc, InvalidInputError):
        return usage(str(exc))
    if isinstance(exc, BackendConfigurationError):  # a wrong URL or password: fix the command
        return usage(str(exc))
    if isinstance(exc, BackendError):
        return CliError(f"cannot reach {backend}: {exc}")
    if isinstance(exc, CursorExpiredError):
        return usage(str(exc))
    return CliError(str(exc))
