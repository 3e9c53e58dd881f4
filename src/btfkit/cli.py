"""The ``btfkit`` command line: a thin layer of argument parsing over the library.

Every failure btfkit understands ends as one ``btfkit: error: ...`` line on
stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

from .btf import BTF
from .errors import BTFError
from .reader import load


def _load(path: str, base: str | None) -> BTF:
    return load(path, load(base) if base else None)


def _cmd_info(args: argparse.Namespace) -> int:
    btf = _load(args.file, args.base)
    out = sys.stdout
    out.write(f"file: {args.file}\n")
    out.write(f"types: {len(btf)} (IDs {btf.start_id}..{btf.type_count - 1})\n")
    out.write(f"strings: {len(btf.strings)} bytes from offset {btf.start_str_off}\n")
    out.write(f"byte order: {btf.byteorder}, header: {btf.header_len} bytes\n")
    if btf.base is not None:
        out.write(f"split on a base of {btf.base.type_count - 1} types\n")
    if btf.distilled_base is not None:
        out.write(f"distilled base (.BTF.base): {len(btf.distilled_base)} types\n")
    kinds = Counter(t.spec.label for t in btf.types())
    for label, n in kinds.most_common():
        out.write(f"  {label:<11} {n}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="btfkit", description="Read, build, deduplicate and dump BTF.")
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarize a BTF file")
    info.add_argument("file", help="raw BTF, ELF object, module (.ko[.xz|.zst|.gz]), vmlinuz or sysfs path")
    info.add_argument("-B", "--base", help="base BTF for a split file")
    info.set_defaults(func=_cmd_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BTFError as exc:
        print(f"btfkit: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"btfkit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
