"""``creator`` command line: one sub-command per workflow stage.

Each stage module defines ``add_cli(subparsers)`` that registers its sub-command(s) with
``set_defaults(func=...)``; ``func(args)`` returns an exit status (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from creator.errors import DownloadError, InputError

#: Sub-command -> the module that defines it (imported only when that command runs, so a job's
#: environment needs only that stage's dependencies, e.g. no torch for ``reference``).
COMMANDS = {
    "download": "creator.download",
    "encode-manifest": "creator.encode",
    "simulate": "creator.simulate",
    "bedgraph-to-bigwig": "creator.demo",
    "reference": "creator.reference",
    "features": "creator.features",
    "targets": "creator.targets",
    "train": "creator.train",
    "predict": "creator.predict",
    "links": "creator.links",
    "tads": "creator.tads",
    "evaluate-expression": "creator.evaluate",
    "evaluate-links": "creator.evaluate",
    "evaluate-hic": "creator.evaluate",
    "evaluate-summary": "creator.evaluate",
    "locus-view": "creator.evaluate",
    "summary-table": "creator.summary_table",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that sub-command's module is imported."""
    parser = argparse.ArgumentParser(prog="creator", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log", metavar="FILE",
                        help="append all logging and stderr to FILE; warnings and the error also go to the console")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [command] if command in COMMANDS else list(COMMANDS)
    done = set()
    for name in names:
        module_name = COMMANDS[name]
        if module_name in done:
            continue
        done.add(module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a stage not written yet
            if exc.name == module_name:
                continue
            raise
        module.add_cli(sub)
    return parser


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Output:
    """Where a command's messages go: stderr (and logging) to the log file given with ``--log``,
    warnings and the error also, once, to the console (a Snakemake rule's ``log:``: the user sees
    the reason where they ran Snakemake, the log keeps the detail). ``close`` undoes it all."""

    def __init__(self, log_path: str | None, command: str | None, verbose: bool):
        self.console: TextIO | None = None
        self._saved_stderr = sys.stderr
        if log_path:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            sys.stderr.flush()
            # file descriptor 2 (Python, C libraries, child processes) -> the log; console = the old one
            self.console = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 2)
            os.close(fd)
            sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        root = logging.getLogger()
        self._level = root.level
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
        self._handlers = [logging.StreamHandler(sys.stderr)]
        self._handlers[0].setFormatter(logging.Formatter(LOG_FORMAT))
        if self.console is not None:
            to_console = logging.StreamHandler(self.console)
            to_console.setLevel(logging.WARNING)
            to_console.setFormatter(logging.Formatter(f"creator {command}: %(levelname)s: %(message)s"))
            # the workflow's own warnings (a library's warnings stay in the log)
            to_console.addFilter(lambda r: r.name.startswith("creator") and not getattr(r, "log_only", False))
            self._handlers.append(to_console)
        for h in self._handlers:
            root.addHandler(h)
        logging.captureWarnings(True)  # warnings.warn through logging: once, not twice

    def error(self, command: str, exc: Exception) -> None:
        if self.console is not None:  # the log gets it through logging, the console from us
            logging.getLogger("creator").error("%s", exc, extra={"log_only": True})
            print(f"creator {command}: error: {exc}", file=self.console, flush=True)
        else:
            print(f"error: {exc}", file=sys.stderr)

    def close(self) -> None:
        root = logging.getLogger()
        for h in self._handlers:
            h.flush()
            root.removeHandler(h)
        root.setLevel(self._level)
        logging.captureWarnings(False)
        if self.console is not None:
            sys.stderr.flush()
            os.dup2(self.console.fileno(), 2)
            sys.stderr = self._saved_stderr
            self.console.close()


def _path_args(argv: list[str]) -> list[str]:
    """Arguments that may be input files: plain values and the PATH of NAME=PATH."""
    out = []
    for a in argv:
        if a.startswith("-"):
            a = a.partition("=")[2]  # --flag=value
        if not a or a.startswith("{"):
            continue
        out.append(a)
        name, sep, path = a.partition("=")
        if sep and path:
            out.append(path)
    return out


def verify_downloaded_inputs(argv: list[str]) -> None:
    """Re-verify every input that the download rule made against its recorded md5 (size and mtime
    first): a copy changed since it was fetched stops here, before it is read."""
    from creator.download import verify_copy

    for a in _path_args(argv):
        if os.path.isfile(a + ".source.json") and os.path.isfile(a):
            verify_copy(a)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    out = _Output(args.log, args.command, args.verbose)
    try:
        if args.command != "download":
            verify_downloaded_inputs(argv)
        return int(args.func(args) or 0)
    except (InputError, DownloadError) as exc:
        out.error(args.command, exc)
        return 2
    except Exception as exc:  # a bug or an input no check foresaw: the traceback to the log
        if out.console is None:
            raise
        logging.getLogger("creator").exception("unexpected error", extra={"log_only": True})
        print(f"creator {args.command}: error: {type(exc).__name__}: {exc} (unexpected: the traceback is in "
              f"{args.log})", file=out.console, flush=True)
        return 1
    finally:
        out.close()


def _command(argv: list[str]) -> str | None:
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--log":
            skip = True
        elif not a.startswith("-"):
            return a
    return None
