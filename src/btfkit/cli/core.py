"""``btfkit core`` and ``btfkit min-core-btf``: CO-RE relocations as libbpf resolves them, and minimized BTF."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import BTFError
from .common import count, examples


def _lines(result: Any) -> list[str]:
    from ..core.resolve import CoreResult  # noqa: PLC0415 (imported on use)

    assert isinstance(result, CoreResult)
    rels = result.relocations
    failing = sum(r.fails for r in rels)
    out = [f"{result.program}: {len(rels)} CO-RE relocations against {result.target}, {failing} failing"]
    section = None
    for r in rels:
        if r.section != section:
            section = r.section
            out.append(f"section '{section}'")
        where = f"relo #{r.index} insn {r.insn}"
        if r.program is not None:
            where += f" (prog {r.program} insn {r.prog_insn})"
        out.append(f"  {where}: {r.kind_label} {r.what}")
        if r.skipped:
            out.append(f"    skipped: {r.skipped}")
            continue
        if r.candidates:
            cands = ", ".join(
                f"[{c.type_id}] {c.kind} {c.name} in {c.target}{'' if c.matched else ' (no match)'}" for c in r.candidates
            )
            out.append(f"    candidates: {cands}")
        if r.chosen is not None and r.chosen.spec is not None:
            out.append(f"    -> {r.chosen.spec.split(' ', 1)[1]}")
        if r.error is not None:
            out.append(f"    error: {r.error}")
        elif r.poisoned:
            state = "never reached on this target (guarded)" if r.dead else "the program fails to load"
            out.append(f"    no match: instruction poisoned, {state}")
        elif r.value is not None:
            out.append(f"    value {r.local_value} -> {r.value}")
    return out


def _as_json(result: Any) -> dict[str, Any]:
    from dataclasses import asdict, fields  # noqa: PLC0415

    rels = []
    for r in result.relocations:
        d = {f.name: getattr(r, f.name) for f in fields(r) if f.name != "target_spec"}
        d["candidates"] = [asdict(c) for c in r.candidates]
        d["chosen"] = asdict(r.chosen) if r.chosen is not None else None
        d["kind"] = r.kind_label
        d["fails"] = r.fails
        rels.append(d)
    return {"program": result.program, "target": result.target, "fails": result.fails, "relocations": rels}


def _cmd_check(args: argparse.Namespace, paths: list[str]) -> int:
    from ..core import check  # noqa: PLC0415
    from ..format.writer import write_atomic  # noqa: PLC0415

    read = [(p, check.is_program(p)) for p in paths]
    programs = [prog for _, prog in read if prog is not None]
    kernels = check.kernel_inputs([p for p, prog in read if prog is None])
    if not programs:
        raise BTFError("core check: no BPF program given (an ELF object for the BPF machine)")
    cells = check.check(programs, kernels, args.jobs)
    if args.html:
        write_atomic(args.html, check.to_html(cells).encode(), fsync=False)
    if args.json:
        json.dump(check.to_json(cells), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(check.to_text(cells))
    return 1 if any(c.fails for c in cells) else 0


def _cmd_core(args: argparse.Namespace) -> int:
    from ..core.resolve import Target, resolve  # noqa: PLC0415
    from ..format.reader import load  # noqa: PLC0415

    if args.programs[0] == "check":
        return _cmd_check(args, args.programs[1:])
    if not args.base:
        raise BTFError("core needs the target kernel's BTF (-B VMLINUX), or: core check PROG.o... KERNEL...")

    vmlinux = Target(load(args.base))
    results = [resolve(prog, vmlinux, args.module or ()) for prog in args.programs]
    if args.json:
        json.dump([_as_json(r) for r in results], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("".join(line + "\n" for r in results for line in _lines(r)))
    return 1 if any(r.fails for r in results) else 0


def _cmd_min_core_btf(args: argparse.Namespace) -> int:
    from ..core.minimize import min_core_btf  # noqa: PLC0415

    if not args.programs:
        raise BTFError("min-core-btf needs at least one BPF object")
    min_core_btf(args.vmlinux, args.output, args.programs, modules=args.module or ())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    core = sub.add_parser(
        "core",
        help="resolve a BPF object's CO-RE relocations against a kernel, as libbpf does",
        description="core PROG.o... -B VMLINUX: each relocation's candidates, choice and value.  "
        "core check PROG.o... KERNEL...: a programs x kernels compatibility matrix "
        "(KERNEL: vmlinux or raw BTF, a directory of them, or an unpacked kernel package).",
        epilog=examples(
            "btfkit core prog.bpf.o -B /sys/kernel/btf/vmlinux",
            "btfkit core prog.bpf.o -B vmlinux --module xfs.ko --json",
            "btfkit core check prog.bpf.o kernels/ --html matrix.html",
        ),
    )
    core.add_argument("programs", nargs="+", metavar="PROG.o",
                      help="BPF object files (clang/gcc, with .BTF.ext); after 'check', kernels too")  # fmt: skip
    core.add_argument("-B", "--base", metavar="VMLINUX",
                      help="the target kernel's BTF: raw, ELF vmlinux or /sys/kernel/btf/vmlinux")  # fmt: skip
    core.add_argument("--module", action="append", metavar="M.ko",
                      help="a module's BTF, searched where vmlinux has no candidate (repeatable)")  # fmt: skip
    core.add_argument("-j", "--json", action="store_true", help="JSON output")
    core.add_argument("--html", metavar="FILE", help="check: also write the matrix as an HTML page")
    core.add_argument("--jobs", type=count, metavar="N", help="check: worker processes (default: all CPUs)")
    core.set_defaults(func=_cmd_core)
    mini = sub.add_parser("min-core-btf", help="the BTF a set of BPF objects needs, as bpftool gen min_core_btf",
                          epilog=examples(
                              "btfkit min-core-btf /sys/kernel/btf/vmlinux min.btf prog.bpf.o",
                              "btfkit min-core-btf vmlinux min.btf a.bpf.o b.bpf.o --module xfs.ko",
                          ))  # fmt: skip
    mini.add_argument("vmlinux", metavar="VMLINUX", help="the kernel's BTF (raw or ELF vmlinux)")
    mini.add_argument("output", metavar="OUT", help="where to write the minimized BTF")
    mini.add_argument("programs", nargs="+", metavar="PROG.o", help="BPF object files")
    mini.add_argument("--module", action="append", metavar="M.ko",
                      help="also minimize this module's BTF (written as OUT.<module>, split over OUT)")  # fmt: skip
    mini.set_defaults(func=_cmd_min_core_btf)
