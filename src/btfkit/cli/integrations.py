"""``btfkit isf``: a Volatility 3 symbol table (ISF JSON) from a kernel's BTF."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import BTFError
from ..format.reader import load
from .common import SYS_VMLINUX, examples


def _cmd_isf(args: argparse.Namespace) -> int:
    from ..integrations.isf import banner_from_image, make_isf, source_entry, write_isf  # noqa: PLC0415
    from ..integrations.kallsyms import load_kallsyms  # noqa: PLC0415

    running = os.path.normpath(args.vmlinux) == SYS_VMLINUX
    table_path, kind = (args.system_map, "system-map") if args.system_map else (args.kallsyms, None)
    if table_path is None:
        if not running:
            raise BTFError("give the kernel's symbol table: --system-map FILE or --kallsyms FILE")
        table_path = "/proc/kallsyms"  # the running kernel's own
    table = load_kallsyms(table_path)
    if args.banner is not None:
        banner: bytes | None = args.banner.encode().rstrip(b"\n") + b"\n"
    elif running:
        with open("/proc/version", "rb") as f:  # the running kernel's banner, as printed at boot
            banner = f.read().rstrip(b"\0")
    else:
        banner = banner_from_image(args.vmlinux, table.address("linux_banner"))
    if banner is None:
        print(f"btfkit: warning: {args.vmlinux} holds no Linux banner: without --banner, Volatility "
              "cannot match this table to a memory image", file=sys.stderr)  # fmt: skip
    sources = {"types": [source_entry(args.vmlinux)], "symbols": [source_entry(table_path, kind)]}
    document = make_isf(load(args.vmlinux), table, banner=banner, sources=sources)
    write_isf(document, args.output)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    isf = sub.add_parser("isf", help="write a Volatility 3 symbol table (ISF JSON) from a kernel's BTF",
                         epilog=examples(
                             "btfkit isf /sys/kernel/btf/vmlinux -o symbols/linux.json.xz",
                             "btfkit isf vmlinuz --system-map System.map -o linux.json.xz",
                         ))  # fmt: skip
    isf.add_argument("vmlinux", metavar="VMLINUX",
                     help=f"the kernel's BTF: vmlinux, vmlinuz or {SYS_VMLINUX} (the running kernel)")  # fmt: skip
    table = isf.add_mutually_exclusive_group()
    table.add_argument("--system-map", metavar="FILE", help="symbol addresses from the kernel's System.map")
    table.add_argument("--kallsyms", metavar="FILE",
                       help="symbol addresses from a copy of /proc/kallsyms (default for the running kernel)")  # fmt: skip
    isf.add_argument("--banner", metavar="TEXT",
                     help="the kernel's banner (`Linux version ...`, as /proc/version shows it); default: "
                     "read from VMLINUX, or /proc/version for the running kernel")  # fmt: skip
    isf.add_argument("-o", "--output", required=True, metavar="OUT.json[.xz]",
                     help="write the ISF here (xz-compressed when the name ends in .xz)")  # fmt: skip
    isf.set_defaults(func=_cmd_isf)
