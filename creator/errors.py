"""Errors for bad input: each names the file, the line (when there is one) and the fix."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input. ``str()`` reads ``<file>:<line>: <problem>. Fix: <fix>``."""

    def __init__(self, problem: str, *, path: str | Path | None = None, line: int | None = None,
                 fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        self.fix = fix
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        msg = where + problem
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)


class DownloadError(RuntimeError):
    """A download that failed for good (after retries) or whose checksum does not match."""
