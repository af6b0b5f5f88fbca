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

#: Modules that contribute sub-commands, in the order of the workflow.
COMMAND_MODULES = (
    "creator.download",
    "creator.simulate",
    "creator.demo",
    "creator.reference",
    "creator.features",
    "creator.targets",
    "creator.train",
    "creator.predict",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creator", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a stage not written yet
            if exc.name == name:
                continue
            raise
        module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
