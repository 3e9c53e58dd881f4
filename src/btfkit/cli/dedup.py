"""``btfkit dedup`` and ``btfkit merge``: deduplication, one BTF or a whole module tree."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import BTFError
from ..format.reader import load
from ..format.writer import refuse_overwriting, write
from .common import examples, jobs_and_progress, load_input, print_json, size_text


def _cmd_dedup(args: argparse.Namespace) -> int:
    from ..transforms.dedup import PASSES, dedup  # noqa: PLC0415 (imported on use, see above)
    from ..transforms.modtree import (  # noqa: PLC0415
        Progress,
        dedup_modules,
        find_base,
        find_modules,
        progress_stream,
        raw_size,
        report_modules,
    )

    single = len(args.inputs) == 1 and not os.path.isdir(args.inputs[0])
    if single and not args.report:
        if args.output is None:
            raise BTFError("give the output file (-o OUT)")
        refuse_overwriting(args.output, [args.inputs[0], args.base])
        btf = load_input(args.inputs[0], args.base)
        before, n_before = raw_size(btf), len(btf)
        passes = Progress(len(PASSES), progress_stream(args.progress), label="passes")
        dedup(btf, progress=lambda _name: passes.step())
        passes.close()
        write(btf, args.output)
        if args.json:
            print_json({"types_in": n_before, "types_out": len(btf), "bytes_in": before, "bytes_out": raw_size(btf)})
        else:
            print(f"{n_before} -> {len(btf)} types, {size_text(before)} -> {size_text(raw_size(btf))}")
        return 0
    base_path = args.base or find_base(args.inputs)
    if base_path is None:
        raise BTFError("modules need their base (-B vmlinux)")
    base = load(base_path)
    modules = find_modules(args.inputs)
    if not modules:
        raise BTFError("no modules (.ko, .ko.xz, .ko.zst, .ko.gz) among the inputs")
    bar = progress_stream(args.progress)
    if args.report:
        results = report_modules(base, modules, jobs=args.jobs, progress=bar)
    else:
        if args.output is None:
            raise BTFError("several modules need an output directory (-o DIR)")
        results = dedup_modules(base, modules, args.output, jobs=args.jobs, progress=bar)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"btfkit: error: {r.path}: {r.error}", file=sys.stderr)
    ok = [r for r in results if not r.error]
    b_in, b_out = sum(r.bytes_in for r in ok), sum(r.bytes_out for r in ok)
    t_in, t_out = sum(r.types_in for r in ok), sum(r.types_out for r in ok)
    if args.json:
        keys = ("alone", "split") if args.report else ("in", "out")
        print_json({
            "base": {"path": base_path, "types": len(base), "bytes": raw_size(base)},
            "modules": [{"module": r.output.removesuffix(".btf"), f"bytes_{keys[0]}": r.bytes_in,
                         f"types_{keys[0]}": r.types_in, f"bytes_{keys[1]}": r.bytes_out,
                         f"types_{keys[1]}": r.types_out} for r in ok],
            "total": {f"bytes_{keys[0]}": b_in, f"types_{keys[0]}": t_in, f"bytes_{keys[1]}": b_out,
                      f"types_{keys[1]}": t_out},
            "errors": [{"path": str(r.path), "error": r.error} for r in failed],
        })  # fmt: skip
    elif args.report:
        print(f"{'module':<40} {'alone (bytes)':>14} {'split (bytes)':>14}")
        for r in ok:
            print(f"{r.output.removesuffix('.btf'):<40} {r.bytes_in:>14,} {r.bytes_out:>14,}")
        print(f"{len(ok)} modules: deduplicated alone {size_text(b_in)} ({t_in} types); "
              f"split against the base {size_text(b_out)} ({t_out} types); "
              f"base {size_text(raw_size(base))} ({len(base)} types)")  # fmt: skip
    else:
        print(f"{len(ok)} modules: {t_in} -> {t_out} types, {size_text(b_in)} -> {size_text(b_out)}")
    return 1 if failed else 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from ..transforms.merge import merge  # noqa: PLC0415 (imported on use, see above)

    refuse_overwriting(args.output, [*args.inputs, args.base])
    base = load(args.base)
    write(merge([load(path, base) for path in args.inputs], base), args.output)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    dd = sub.add_parser("dedup", help="deduplicate BTF as libbpf 1.1 does; many modules at once against one base",
                        epilog=examples(
        "btfkit dedup merged.btf -o small.btf",
        "btfkit dedup /lib/modules/$(uname -r)/kernel -B /sys/kernel/btf/vmlinux -o btf/",
        "btfkit dedup --report --json unpacked-linux-image/",
    ))  # fmt: skip
    dd.add_argument("inputs", nargs="+", metavar="input",
                    help="a BTF file, or modules (.ko[.xz|.zst|.gz]), directories or an unpacked kernel package")  # fmt: skip
    dd.add_argument("-B", "--base", help="base BTF (vmlinux, vmlinuz, raw BTF); found in a kernel package if omitted")
    dd.add_argument("-o", "--output", help="output file (one input) or directory (modules)")
    jobs_and_progress(dd)
    dd.add_argument("--json", action="store_true", help="the summary (and the report) as JSON, sizes in bytes")
    dd.add_argument("--report", action="store_true",
                    help="per module: size deduplicated alone (with the base types it needs) vs split; writes nothing")  # fmt: skip
    dd.set_defaults(func=_cmd_dedup)


    mg = sub.add_parser("merge", help="merge split BTFs over one base into one split BTF, deduplicated", epilog=examples(
        "btfkit merge -B /sys/kernel/btf/vmlinux /sys/kernel/btf/nf_tables /sys/kernel/btf/nf_conntrack -o nf.btf",
        "btfkit merge -B vmlinux a.btf b.btf -o ab.btf",
    ))  # fmt: skip
    mg.add_argument("inputs", nargs="+", metavar="input", help="split BTF files or modules over the base")
    mg.add_argument("-B", "--base", required=True, help="their base BTF")
    mg.add_argument("-o", "--output", required=True, help="write raw split BTF to this file")
    mg.set_defaults(func=_cmd_merge)
