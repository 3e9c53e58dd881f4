"""``btfkit diff``, ``btfkit archive`` and ``btfkit compat``: many kernels at once."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _colour(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _kinds(text: str) -> list[str]:
    from ..fleet.diff import KINDS  # noqa: PLC0415 (imported on use: the CLI starts fast)

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kind {unknown[0]!r} (choose from {', '.join(KINDS)})"
        )
    return kinds


def _cmd_diff(args: argparse.Namespace) -> int:
    from ..fleet.diff import diff_paths, render_text  # noqa: PLC0415

    kinds = [k for group in args.kind or () for k in group]
    diff = diff_paths(args.old, args.new).filtered(kinds, args.name, only_layout=args.only_layout)
    out = sys.stdout
    if args.json:
        json.dump(diff.to_json(), out, indent=1 if args.pretty else None)
        out.write("\n")
    else:
        out.writelines(render_text(diff, colour=_colour(args.color)))
    return 1 if diff and args.exit_code else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    d = sub.add_parser(
        "diff",
        help="types added, removed and changed between two kernels",
        description="Compare the named types of two kernels (matched by kind and name, never by ID): "
        "structs and unions (members added, removed, moved, resized, retyped), enums (values), typedefs "
        "and function prototypes.  OLD and NEW are BTF files, vmlinux or vmlinuz images, archive "
        "tarballs (<release>.btf.tar.xz) or kernel trees (vmlinux and modules: compared module by module).",
    )
    d.add_argument("old", metavar="OLD")
    d.add_argument("new", metavar="NEW")
    d.add_argument("-j", "--json", action="store_true",
                   help='one JSON object {"added": [...], "removed": [...], "changed": [...]}')  # fmt: skip
    d.add_argument("-p", "--pretty", action="store_true", help="indented JSON (with --json)")
    d.add_argument("-k", "--kind", type=_kinds, action="append", metavar="KIND[,KIND]",
                   help="only these kinds: struct, union, enum, typedef, func, module (repeatable)")  # fmt: skip
    d.add_argument("-n", "--name", action="append", metavar="GLOB",
                   help="only types whose name matches this shell pattern (repeatable)")  # fmt: skip
    d.add_argument("--only-layout", action="store_true",
                   help="only changes of size or member offsets (what breaks a compiled program's field accesses)")  # fmt: skip
    d.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output (default: when writing to a terminal)")  # fmt: skip
    d.add_argument(
        "--exit-code", action="store_true", help="exit with status 1 when there are differences"
    )
    d.set_defaults(func=_cmd_diff)
