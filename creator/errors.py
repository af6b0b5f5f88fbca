"""Errors for bad input: each names the file, the line (when there is one) and the fix."""

from __future__ import annotations

import json
from pathlib import Path


def downloaded_from(path: str | Path) -> str | None:
    """The configured source (url or path) of a copy the download rule made, else None (the
    download records it next to the copy: ``<copy>.source.json``, :func:`creator.download.fetch`)."""
    try:
        return json.loads(Path(str(path) + ".source.json").read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def display_path(path: str | Path, line: int | None = None) -> str:
    """``path`` (and ``:line``) as the user knows it: the file they configured, and the downloaded
    copy in brackets when the two differ
    (``my/genes.bed:12 [downloaded copy resources/data/reference/genes.bed]``)."""
    path = str(path)
    at = f":{line}" if line is not None else ""
    source = downloaded_from(path)
    if source and source != path:
        return f"{source}{at} [downloaded copy {path}]"
    return path + at


class InputError(ValueError):
    """Bad user input. ``str()`` reads ``<file>:<line>: <problem>. Fix: <fix>``; a file that the
    download rule copied is named as configured, the copy in brackets."""

    def __init__(self, problem: str, *, path: str | Path | None = None, line: int | None = None,
                 fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        self.fix = fix
        where = ""
        if self.path is not None:
            where = display_path(self.path, line) + ": "
        msg = where + problem
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)


class DownloadError(RuntimeError):
    """A download that failed for good (after retries) or whose checksum does not match."""
