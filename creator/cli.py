"""``creator`` command line: one sub-command per workflow stage.

Each stage module defines ``add_cli(subparsers)`` that registers its sub-command(s) with
``set_defaults(func=...)``; ``func(args)`` returns an exit status (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

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
    "locus-view": "creator.plots",
    "summary-table": "creator.summary_table",
}


def name_path_pairs(items: list[str], flag: str) -> dict[str, str]:
    """``["DNase=a.bigWig", ...]`` from a repeatable ``--flag NAME=PATH`` option -> ``{name: path}``."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{flag} {item!r} is not NAME=PATH", fix=f"e.g. {flag} DNase=dnase.bigWig")
        out[name] = path
    return out


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that sub-command's module is imported."""
    parser = argparse.ArgumentParser(prog="creator", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except (InputError, DownloadError) as exc:
        logging.getLogger("creator").error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
