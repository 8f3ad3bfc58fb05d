"""The package version, read from the installed metadata: pyproject.toml is its one source."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# What a checkout that was never installed (``PYTHONPATH=src``) reports: no
# metadata to read, and a made-up number would look like a real release.
UNINSTALLED = "0+unknown"


def installed_version(distribution: str = "tidings") -> str:
    """The version pip recorded for ``distribution``, or ``UNINSTALLED`` if it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNINSTALLED


__version__ = installed_version()
