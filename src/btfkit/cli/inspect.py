"""``btfkit info`` and ``btfkit validate``: what a BTF holds, and whether the kernel would take it."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from ..format.reader import is_raw_btf, load, read_input
from .common import load_input


def _cmd_info(args: argparse.Namespace) -> int:
    btf = load_input(args.file, args.base)
    # The rule every other command applies on its way through the types (libbpf's open-time
    # checks): names and type IDs point inside the BTF.  A summary must not accept what they refuse.
    btf.check_references()
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



def _cmd_validate(args: argparse.Namespace) -> int:
    from ..format.validate import validate, validate_bytes  # noqa: PLC0415 (see above)

    data = read_input(args.file)  # once: a FIFO cannot be read again
    btf = load(data, load(args.base) if args.base else None, name=args.file)
    if is_raw_btf(data):  # raw BTF: also check the header layout the reader tolerates
        validate_bytes(data, btf.base)
    else:
        validate(btf)
    print(f"OK: {len(btf)} types")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    info = sub.add_parser("info", help="summarize a BTF file")
    info.add_argument("file", help="raw BTF, ELF object, module (.ko[.xz|.zst|.gz]), vmlinuz or sysfs path")
    info.add_argument("-B", "--base", help="base BTF for a split file")
    info.set_defaults(func=_cmd_info)


    check = sub.add_parser("validate", help="check a BTF file against the kernel verifier's rules")
    check.add_argument("file", help="raw BTF, ELF object, module, vmlinuz or sysfs path")
    check.add_argument("-B", "--base", help="base BTF for a split file")
    check.set_defaults(func=_cmd_validate)

