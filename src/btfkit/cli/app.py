"""The ``btfkit`` program: the parser made of every command module, and how it runs and ends.

Every failure btfkit understands ends as one ``btfkit: error: ...`` line on
stderr and exit status 1; never a traceback.  Each command lives in its own
module of this package with a ``register(sub)`` that adds its parser; the
modules import the heavy parts of btfkit only when their command runs.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ..errors import BTFError
from . import common, dedup, dump, encode, inspect, integrations

#: The command modules, in the order ``btfkit --help`` lists their commands.
COMMANDS = (inspect, dump, encode, dedup, integrations)


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, sized without shutil.

    argparse makes a formatter for every argument it adds, and its default asks
    shutil (with bz2 and lzma behind it) for the terminal width: a tenth of a
    small command's start-up.  The width is the same: the terminal's less two.
    """

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ["COLUMNS"])
        except (KeyError, ValueError):
            try:
                columns = os.get_terminal_size().columns
            except OSError:
                columns = 80
        super().__init__(prog, width=columns - 2)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help (and its subcommands' help) uses :class:`_Formatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def parser() -> argparse.ArgumentParser:
    """The ``btfkit`` argument parser, with every command's subparser."""
    p = _Parser(prog="btfkit", description="Read, build, deduplicate and dump BTF.")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return p


def _silence_stdout() -> None:
    """After the reader went away, point stdout at /dev/null so the exit-time flush is quiet."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (e.g. captured output): nothing will be flushed there


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BTFError as exc:
        print(f"btfkit: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"btfkit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """The ``btfkit`` program: :func:`main`, then an exit that frees nothing.

    A vmlinux's BTF and its C dumper are some 300,000 objects: freeing them
    costs 4% of writing a vmlinux.h, for a process that is about to end anyway.
    So the output is flushed and the process ends at once (``os._exit``).
    """
    common.exiting_fast = True
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away, as main() allows
    except OSError as exc:
        print(f"btfkit: error: {exc.strerror or exc}", file=sys.stderr)
        code = 1
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
