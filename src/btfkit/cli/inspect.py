"""``btfkit info`` and ``btfkit validate``: what a BTF holds, and whether the kernel would take it."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from ..format.elf import unwrap
from ..format.reader import is_raw_btf
from .common import examples, load_input, print_json, size_text


def _cmd_info(args: argparse.Namespace) -> int:
    from ..transforms.modtree import raw_size  # noqa: PLC0415 (imported on use)

    btf = load_input(args.file, args.base)
    kinds = Counter(t.spec.label for t in btf.types())
    size = raw_size(btf)
    if args.json:
        print_json({
            "file": args.file,
            "types": len(btf),
            "first_id": btf.start_id,
            "last_id": btf.type_count - 1,
            "size_bytes": size,
            "strings_bytes": len(btf.strings),
            "start_str_off": btf.start_str_off,
            "byte_order": btf.byteorder,
            "header_bytes": btf.header_len,
            "base_types": btf.base.type_count - 1 if btf.base is not None else None,
            "distilled_base_types": len(btf.distilled_base) if btf.distilled_base is not None else None,
            "kinds": dict(kinds.most_common()),
        })  # fmt: skip
        return 0
    out = sys.stdout
    out.write(f"file: {args.file}\n")
    out.write(f"types: {len(btf)} (IDs {btf.start_id}..{btf.type_count - 1})\n")
    out.write(f"size: {size_text(size)} as raw BTF\n")
    out.write(f"strings: {size_text(len(btf.strings))} from offset {btf.start_str_off}\n")
    out.write(f"byte order: {btf.byteorder}, header: {btf.header_len} bytes\n")
    if btf.base is not None:
        out.write(f"split on a base of {btf.base.type_count - 1} types\n")
    if btf.distilled_base is not None:
        out.write(f"distilled base (.BTF.base): {len(btf.distilled_base)} types\n")
    for label, n in kinds.most_common():
        out.write(f"  {label:<11} {n}\n")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from ..errors import BTFValidationError  # noqa: PLC0415 (see above)
    from ..format.fixups import load_time_fixups, object_layout  # noqa: PLC0415
    from ..format.validate import validate, validate_bytes  # noqa: PLC0415

    btf = load_input(args.file, args.base)
    with open(args.file, "rb") as f:
        data = f.read()
    if is_raw_btf(data):  # raw BTF: also check the header layout the reader tolerates
        validate_bytes(data, btf.base)
    else:
        # An object (.o) is judged as libbpf hands it to the kernel: after its open-time fixes.
        layout = object_layout(unwrap(data, args.file), args.file)
        if layout is not None:
            for line in load_time_fixups(btf, layout):
                print(f"fixed as libbpf does when it opens the object: {line}")
        try:
            validate(btf)
        except BTFValidationError as exc:
            if layout is not None and "INT encoding 0x3" in str(exc):
                raise BTFValidationError(
                    f"{exc} (gcc writes char and signed char so; libbpf passes it on, the kernel refuses "
                    "the object's BTF and libbpf loads its programs without BTF; btfkit link writes SIGNED)"
                ) from exc
            raise
    print(f"OK: {len(btf)} types")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    info = sub.add_parser("info", help="summarize a BTF file", epilog=examples(
        "btfkit info /sys/kernel/btf/vmlinux",
        "btfkit info /lib/modules/$(uname -r)/kernel/net/ipv4/tcp_bbr.ko* --json",
        "btfkit info module.btf -B /boot/vmlinuz-$(uname -r)",
    ))  # fmt: skip
    info.add_argument("file", help="raw BTF, ELF object, module (.ko[.xz|.zst|.gz]), vmlinuz or sysfs path")
    info.add_argument("-B", "--base", help="base BTF for a split file (a module's own kernel's when omitted)")
    info.add_argument("--json", action="store_true", help="the summary as JSON, sizes in bytes (for scripts)")
    info.set_defaults(func=_cmd_info)


    check = sub.add_parser("validate", help="check a BTF file against the kernel verifier's rules", epilog=examples(
        "btfkit validate /sys/kernel/btf/vmlinux",
        "btfkit validate prog.bpf.o",
        "btfkit validate module.btf -B vmlinux",
    ))  # fmt: skip
    check.add_argument("file", help="raw BTF, ELF object (an object .o as libbpf fixes it on opening), module, "
                       "vmlinuz or sysfs path")  # fmt: skip
    check.add_argument("-B", "--base", help="base BTF for a split file (a module's own kernel's when omitted)")
    check.set_defaults(func=_cmd_validate)

