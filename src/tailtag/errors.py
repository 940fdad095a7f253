"""The project's error types.

A `TailtagError` is a user mistake (bad input, bad option): the CLI prints its message and exits with
status 2, never a traceback. Anything else escaping to the CLI is a bug in tailtag (status 1).
Messages say where (file:line, column, key or flag), what was expected, what was found, and the fix.
"""

from __future__ import annotations

from pathlib import Path


class TailtagError(Exception):
    """A problem with the user's input or options, with a message that says how to fix it."""


class LabelFileError(TailtagError):
    """A label file that cannot be read as asked.

    Args:
        path: the label file.
        problem: what is wrong, e.g. "row has 7 cells but the header has 6".
        line: 1-based line number in the file, if the problem has one.
        fix: what the user should do about it.
    """

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, fix: str | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line is not None else self.path
        message = f"{where}: {problem}"
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)


class BadImageError(TailtagError):
    """An image file that cannot be decoded (missing, empty, truncated, corrupt, too many pixels)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class OptionError(TailtagError):
    """A command-line option or config value that is invalid; the message names the flag or key."""
