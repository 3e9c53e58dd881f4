"""``btfkit distill`` and ``btfkit relocate``: portable module BTF, as libbpf 1.5 makes and reads it."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import BTFError
from ..format.reader import load
from .common import SYS_VMLINUX, examples, jobs_and_progress


def _cmd_distill(args: argparse.Namespace) -> int:
    from ..sources.portable import distill_modules  # noqa: PLC0415 (imported on use, as every command)
    from ..transforms.modtree import find_base, find_modules, progress_stream  # noqa: PLC0415

    if (args.output is None) == (not args.in_place):
        raise BTFError("give exactly one of -o DIR and --in-place")
    base_path = args.base or find_base(args.modules)
    if base_path is None:
        raise BTFError("modules need the vmlinux they were built for (-B VMLINUX)")
    modules = find_modules(args.modules)
    if not modules:
        raise BTFError("no modules (.ko, .ko.xz, .ko.zst, .ko.gz) among the inputs")
    results = distill_modules(load(base_path), modules, None if args.in_place else args.output,
                              jobs=args.jobs, progress=progress_stream(args.progress))  # fmt: skip
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"btfkit: error: {r.path}: {r.error}", file=sys.stderr)
    ok = [r for r in results if not r.error]
    print(f"{len(ok)} of {len(results)} modules distilled: split on the base {sum(r.bytes_in for r in ok)} bytes, "
          f"split on their distilled bases {sum(r.bytes_out for r in ok)} bytes")  # fmt: skip
    return 1 if failed else 0


def _cmd_relocate(args: argparse.Namespace) -> int:
    from ..sources.portable import find_relocatable, relocate_modules  # noqa: PLC0415 (see above)
    from ..transforms.modtree import progress_stream  # noqa: PLC0415

    base_path = args.base or (SYS_VMLINUX if os.path.exists(SYS_VMLINUX) else None)
    if base_path is None:
        raise BTFError(f"give the vmlinux to relocate onto (-B VMLINUX); {SYS_VMLINUX} does not exist")
    inputs = find_relocatable(args.inputs)
    if not inputs:
        raise BTFError("nothing to relocate: give modules with .BTF.base, NAME.btf files with NAME.base.btf "
                       "beside them, or directories of either")  # fmt: skip
    results = relocate_modules(load(base_path), inputs, args.output, deduplicate=args.dedup,
                               jobs=args.jobs, progress=progress_stream(args.progress))  # fmt: skip
    failed = [r for r in results if r.error]
    ok = [r for r in results if not r.error]
    out = sys.stdout
    if args.verbose:
        for r in ok:
            out.write(f"relocated {r.output.removesuffix('.btf')}: {r.types_in} -> {r.types_out} types\n")
    for r in failed:
        out.write(f"not relocated {r.output.removesuffix('.btf')} ({r.path}): {r.error}\n")
    out.write(f"{len(ok)} of {len(results)} relocated onto {base_path}, {len(failed)} not; "
              f"{sum(r.bytes_out for r in ok)} bytes written to {args.output}\n")  # fmt: skip
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    ds = sub.add_parser("distill", help="make modules' BTF portable: a distilled base beside a split on it "
                        "(libbpf 1.5's btf__distill_base)", epilog=examples(
                            "btfkit distill foo.ko -B /usr/lib/debug/boot/vmlinux-$(uname -r) -o portable/",
                            "btfkit distill /lib/modules/$(uname -r)/updates -B vmlinux --in-place",
                        ))  # fmt: skip
    ds.add_argument("modules", nargs="+", metavar="module",
                    help="modules (.ko[.xz|.zst|.gz]), directories of them or an unpacked kernel package")  # fmt: skip
    ds.add_argument("-B", "--base", help="the vmlinux the modules were built for (found in a kernel package if omitted)")
    out = ds.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="write NAME.btf (split on the distilled base) and NAME.base.btf here")
    out.add_argument("--in-place", action="store_true",
                     help="rewrite each module's .BTF and write its .BTF.base (uncompressed .ko only), "
                          "as pahole --btf_features=distilled_base")  # fmt: skip
    jobs_and_progress(ds)
    ds.set_defaults(func=_cmd_distill)

    rl = sub.add_parser("relocate", help="move distilled module BTF onto another vmlinux (libbpf 1.5's btf__relocate)",
                        epilog=examples(
                            "btfkit relocate portable/ -B /sys/kernel/btf/vmlinux -o moved/",
                            "btfkit relocate foo.ko -B new-vmlinux -o moved/ --dedup",
                        ))  # fmt: skip
    rl.add_argument("inputs", nargs="+", metavar="input",
                    help="modules with .BTF.base, NAME.btf files with NAME.base.btf beside them, or directories")  # fmt: skip
    rl.add_argument("-B", "--base", help=f"the vmlinux to relocate onto (default {SYS_VMLINUX})")
    rl.add_argument("-o", "--output", required=True, help="write NAME.btf, split on the new vmlinux, here")
    rl.add_argument("--dedup", action="store_true",
                    help="deduplicate each result against the new vmlinux (as btf__dedup would)")  # fmt: skip
    rl.add_argument("-v", "--verbose", action="store_true", help="also list the modules that relocated")
    jobs_and_progress(rl)
    rl.set_defaults(func=_cmd_relocate)
