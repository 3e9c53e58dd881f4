"""``btfkit diff``, ``btfkit archive`` and ``btfkit compat``: many kernels at once."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from ..errors import BTFError
from .common import count, examples

T = TypeVar("T")
R = TypeVar("R")


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
    from ..fleet.diff import PairJob, diff_pair, render_text  # noqa: PLC0415
    from ..fleet.engine import InProcess, engine, with_progress  # noqa: PLC0415

    kinds = tuple(k for group in args.kind or () for k in group)
    kernels = [args.old, args.new, *args.more]
    jobs = [PairJob(a, b, kinds, tuple(args.name or ()), args.only_layout) for a, b in itertools.pairwise(kernels)]
    # One pair runs here (its two sides on two CPUs); a series of pairs on the engine.
    eng = InProcess() if len(jobs) == 1 else engine(args.scheduler, args.workers)
    try:
        done = dict(with_progress(eng, diff_pair, jobs, "pairs", args.progress if len(jobs) > 1 else False))
    finally:
        eng.close()
    out, colour = sys.stdout, _colour(args.color)
    diffs = [done[j] for j in jobs]  # (in the order given, whatever order they completed in)
    if args.json:
        body: object = diffs[0].to_json() if len(jobs) == 1 else [
            {"old": j.old, "new": j.new, **d.to_json()} for j, d in zip(jobs, diffs, strict=True)
        ]
        json.dump(body, out, indent=1 if args.pretty else None)
        out.write("\n")
    else:
        for job, diff in zip(jobs, diffs, strict=True):
            if len(jobs) > 1:
                out.write(f"=== {job.old} -> {job.new}\n")
            out.writelines(render_text(diff, colour=colour))
    return 1 if any(diffs) and args.exit_code else 0


def _scale_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask cluster: tcp://HOST:PORT, or 'local' for an in-process LocalCluster "
                   "(default: a process pool on this machine)")  # fmt: skip
    p.add_argument("-w", "--workers", type=count, metavar="N", help="processes (default: all CPUs)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (default: when stderr is a terminal)")  # fmt: skip


def _cmd_archive(args: argparse.Namespace) -> int:
    from ..fleet.archive import archive, pending, plan  # noqa: PLC0415
    from ..fleet.engine import InProcess, engine, with_progress  # noqa: PLC0415

    jobs = plan(args.packages, distro=args.distro, version=args.distro_version, arch=args.arch)
    todo = pending(jobs, args.output)
    if len(todo) < len(jobs):
        print(f"btfkit: {len(jobs) - len(todo)} of {len(jobs)} kernels already archived", file=sys.stderr)
    eng = engine(args.scheduler, args.workers) if todo else InProcess()
    try:
        archive(todo, args.output, lambda fn, items: with_progress(eng, fn, items, "kernels", args.progress))
    finally:
        eng.close()
    return 0


def _cmd_compat(args: argparse.Namespace) -> int:
    from ..fleet import compat, corecompat  # noqa: PLC0415
    from ..fleet.engine import engine, with_progress  # noqa: PLC0415
    from ..format.writer import write_atomic  # noqa: PLC0415

    paths = compat.kernel_paths(args.kernels)
    kinds = [k for group in args.kind or () for k in group]
    if args.program is not None and (kinds or args.name):
        raise BTFError("--program reports the program's relocations: -k/--kind and -n/--name do not apply")
    eng = engine(args.scheduler, args.workers)
    try:
        def run(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
            return with_progress(eng, fn, items, "kernels", args.progress)

        # Either each relocation of a CO-RE program per release, or named types' layouts per release.
        if args.program is not None:
            relocations = corecompat.core_compat(paths, args.program, run)
            document, html = relocations.to_json(), corecompat.render_html(relocations)
            table = corecompat.render_table(relocations)
        else:
            layouts = compat.compat(paths, run, kinds, args.name or ())
            document, html, table = layouts.to_json(), compat.render_html(layouts), compat.render_table(layouts)
    finally:
        eng.close()
    if args.html:
        write_atomic(args.html, html.encode())
    if args.json:
        json.dump(document, sys.stdout, indent=1 if args.pretty else None)
        sys.stdout.write("\n")
    elif not args.html:
        sys.stdout.writelines(table)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    d = sub.add_parser(
        "diff",
        help="types added, removed and changed between two kernels",
        description="Compare the named types of two kernels (matched by kind and name, never by ID): "
        "structs and unions (members added, removed, moved, resized, retyped), enums (values), typedefs "
        "and function prototypes.  OLD and NEW are BTF files, vmlinux or vmlinuz images, archive "
        "tarballs (<release>.btf.tar.xz) or kernel trees (vmlinux and modules: compared module by module).",
        epilog=examples(
            "btfkit diff old/vmlinux new/vmlinux --only-layout",
            "btfkit diff linux-image-a.deb linux-image-b.deb --json -k struct -n 'task_*'",
            "btfkit diff a.btf.tar.xz b.btf.tar.xz c.btf.tar.xz --scheduler local",
        ),
    )
    d.add_argument("old", metavar="OLD")
    d.add_argument("new", metavar="NEW")
    d.add_argument("more", nargs="*", metavar="NEWER",
                   help="more kernels: each compared with the one before (a series of pairs, run as -w/--scheduler "
                   "say; --json then gives a list of {old, new, added, removed, changed})")  # fmt: skip
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
    _scale_options(d)
    d.set_defaults(func=_cmd_diff)

    a = sub.add_parser(
        "archive",
        help="an archive of kernels' BTF with their modules' (BTFHub's layout)",
        description="Make DIR/<distro>/<version>/<arch>/<release>.btf.tar.xz for each kernel: its vmlinux "
        "BTF (<release>.btf) and every module's split BTF as the .ko carries it "
        "(<release>/modules/<name>.btf), with DIR/index.json (sizes and sha256 of every member).  "
        "A kernel whose image has no BTF gets it from its -dbg package (given beside it, or alone): "
        "vmlinux and modules encoded from their DWARF, as Debian 12's build does (pahole 1.24, "
        "--btf_gen_floats).  A rerun skips the kernels already archived whole.",
        epilog=examples(
            "btfkit archive linux-image-*-cloud-amd64-unsigned_*.deb -o btfhub/",
            "btfkit archive linux-image-R_*.deb linux-image-R-dbg_*.deb -o btfhub/",
            "btfkit archive /lib/modules/$(uname -r) -o btfhub/ --scheduler tcp://127.0.0.1:8786",
        ),
    )
    a.add_argument("packages", nargs="+", metavar="PKG",
                   help="linux-image-*.deb (or -unsigned, or -dbg), an unpacked package or root, or /lib/modules/<release>")  # fmt: skip
    a.add_argument("-o", "--output", required=True, metavar="DIR", help="the archive directory")
    a.add_argument("--distro", help="distribution name in the layout (default: from the package or tree)")
    a.add_argument("--distro-version", help="distribution version in the layout (default: from the package or tree)")
    a.add_argument("--arch", help="architecture in the layout (default: from the package or kernel image)")
    _scale_options(a)
    a.set_defaults(func=_cmd_archive)

    c = sub.add_parser(
        "compat",
        help="which kernels have which layout of named types, or resolve a CO-RE program's relocations",
        description="For each named type, the layout of each kernel's vmlinux (A, B, ... in release order; "
        "- where it is missing): structs and unions by size and member offsets and sizes, enums by values, "
        "functions by prototype.  With --program: for each CO-RE relocation of a BPF program, the value "
        "each kernel's vmlinux BTF gives it as libbpf resolves it (btfkit core check's resolution), or "
        "FAIL (the reason below the table, or on hover in the HTML page); 'unreached': poisoned where no "
        "path of the program runs, so it still loads.",
        epilog=examples(
            "btfkit compat btfhub/ -n task_struct -n sk_buff",
            "btfkit compat btfhub/ -k struct --html compat.html",
            "btfkit compat btfhub/ --program prog.bpf.o --html relocations.html",
        ),
    )
    c.add_argument("kernels", nargs="+", metavar="KERNEL",
                   help="an archive directory (every kernel of its index), archive tarballs, or vmlinux/BTF files")  # fmt: skip
    c.add_argument("-n", "--name", action="append", metavar="GLOB", help="only types whose name matches (repeatable)")
    c.add_argument("-k", "--kind", type=_kinds, action="append", metavar="KIND[,KIND]",
                   help="only these kinds: struct, union, enum, typedef, func (repeatable)")  # fmt: skip
    c.add_argument("--program", metavar="PROG.o",
                   help="a CO-RE BPF object: a row per relocation, each release's value (or why it fails)")  # fmt: skip
    c.add_argument("-j", "--json", action="store_true",
                   help="JSON: releases, and per type its layouts and each release's (with --program: per "
                   "relocation each release's value, or whether it fails and why)")  # fmt: skip
    c.add_argument("-p", "--pretty", action="store_true", help="indented JSON (with --json)")
    c.add_argument("--html", metavar="FILE", help="write an HTML page: a row per type, a column per release")
    _scale_options(c)
    c.set_defaults(func=_cmd_compat)
