"""``btfkit encode`` and ``btfkit link``: BTF from DWARF, and from compilers' .BTF sections."""

from __future__ import annotations

import argparse
import os

from ..errors import BTFError
from ..format.reader import load
from ..format.writer import refuse_overwriting, write
from .common import SYS_VMLINUX


def _cmd_encode(args: argparse.Namespace) -> int:
    from ..sources.encode import encode, write_section  # noqa: PLC0415
    from ..transforms.dedup import BaseIndex  # noqa: PLC0415 (imported on use, see above)

    if (args.output is None) == (not args.in_place):
        raise BTFError("give exactly one of -o OUT.btf and --in-place")
    if args.output is not None and len(args.files) > 1:
        raise BTFError("-o takes one object; use --in-place for several")
    base_path = None if args.no_base else args.base or (SYS_VMLINUX if os.path.exists(SYS_VMLINUX) else None)
    if args.output is not None:
        refuse_overwriting(args.output, [*args.files, base_path])
    base = load(base_path) if base_path else None
    index = BaseIndex(base) if base is not None else None  # prepared once for all the objects
    for path in args.files:
        btf = encode(path, base, index=index, name=path, check_base=not args.no_base_check,
                     gen_floats=args.btf_gen_floats)  # fmt: skip
        if args.in_place:
            write_section(path, btf)
        else:
            write(btf, args.output)
    return 0


def _cmd_link(args: argparse.Namespace) -> int:
    from ..sources.encode import link  # noqa: PLC0415 (imported on use, see above)

    refuse_overwriting(args.output, [*args.files, args.base])
    write(link(args.files, load(args.base) if args.base else None), args.output)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    enc = sub.add_parser("encode", help="make an object's BTF from its DWARF, as pahole -J does")
    enc.add_argument("files", nargs="+", metavar="file",
                     help="ELF object or kernel module (.o, .ko) with DWARF (several with --in-place)")  # fmt: skip
    enc.add_argument("-B", "--base", help=f"base BTF to split on (any readable form; default {SYS_VMLINUX} "
                     "when it exists)")  # fmt: skip
    enc.add_argument("--no-base", action="store_true", help="standalone BTF, even if the default base exists")
    enc.add_argument("--btf_gen_floats", "--btf-gen-floats", action="store_true",
                     help="floats as FLOAT, not INT (pahole's option, which kernel builds use)")  # fmt: skip
    enc.add_argument("--no-base-check", action="store_true",
                     help="accept a module whose struct module is not the base's")  # fmt: skip
    out = enc.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="write raw BTF to this file")
    out.add_argument("--in-place", action="store_true", help="write it into the object's .BTF section")
    enc.set_defaults(func=_cmd_encode)


    lnk = sub.add_parser("link", help="merge and deduplicate the .BTF sections of objects (gcc -gbtf)")
    lnk.add_argument("files", nargs="+", help="ELF objects with a .BTF section")
    lnk.add_argument("-B", "--base", help="base BTF to split the result on")
    lnk.add_argument("-o", "--output", required=True, help="write raw BTF to this file")
    lnk.set_defaults(func=_cmd_link)

