"""The ``btfkit`` program: the parser made of every command module, and how it runs and ends.

Every failure btfkit understands ends as one ``btfkit: error: ...`` line on
stderr and exit status 1; never a traceback.  Each command lives in its own
module of this package with a ``register(sub)`` that adds its parser; the
modules import the heavy parts of btfkit only when their command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from .. import __version__
from ..errors import BTFError
from ..format.writer import remove_pending
from . import common, core, dedup, distill, dump, encode, fleet, inspect, integrations

#: The command modules, in the order ``btfkit --help`` lists their commands.
COMMANDS = (inspect, dump, encode, dedup, distill, core, fleet, integrations)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help formatter, sized without shutil; descriptions and epilogs (the
    examples) are printed as written.

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
    p.add_argument("--version", action="version", version=f"btfkit {__version__}")
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


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised so that clean-ups run: temporaries removed, workers stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _die_of(signum: int) -> int:
    """Remove the temporaries of writes in progress, then die of ``signum`` as if unhandled."""
    remove_pending()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # (the signal ends the process before this)


@contextlib.contextmanager
def _cleaning_up_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the process without leaving half-written temporaries or
    orphaned workers behind; the process still dies of the signal.

    (SIGINT raises KeyboardInterrupt, which the same clean-ups handle.)  Forked
    workers inherit the handler and just remove their own temporaries.  Only the
    main thread may set handlers: elsewhere (btfkit run from a thread) the signals
    keep their disposition.
    """
    owner = os.getpid()

    def handler(signum: int, _frame: object) -> None:
        if os.getpid() != owner:  # a forked worker: its parent unwinds
            _die_of(signum)
        raise _Terminated(signum)

    old = {}
    with contextlib.suppress(ValueError):  # not the main thread
        for s in (signal.SIGTERM, signal.SIGHUP):
            old[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (130 after Ctrl-C)."""
    try:
        args = parser().parse_args(argv)
        with _cleaning_up_on_signals():
            return int(args.func(args))
    except KeyboardInterrupt:
        print("btfkit: error: interrupted", file=sys.stderr)
        return 130
    except _Terminated as exc:
        return _die_of(exc.signum)
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
