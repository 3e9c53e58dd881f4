"""``btfkit dump``: raw text, JSON or a C header, as bpftool prints them."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from typing import IO

from ..errors import BTFError
from ..format.btf import BTF
from ..format.reader import load
from . import common
from .common import examples, load_input


def _dump_raw(btf: BTF, out: IO[bytes], args: argparse.Namespace) -> None:
    from ..outputs.raw import write_raw  # noqa: PLC0415 (imported on use, see above)

    write_raw(btf, out, args.root_id)


def _dump_json(btf: BTF, out: IO[bytes], args: argparse.Namespace) -> None:
    from ..outputs.json import write_json  # noqa: PLC0415

    write_json(btf, out, args.root_id, pretty=args.pretty)


def _dump_c(btf: BTF, out: IO[bytes], args: argparse.Namespace) -> None:
    from ..outputs import c as dump_c  # noqa: PLC0415

    if common.exiting_fast:  # the process ends after this: keep the dumper, and no collections
        dump_c.kept_for_exit = []
        gc.disable()

    roots = [*(args.root_id or ()), *(args.type or ())]
    # One encode and one write: far cheaper than one per piece.
    text = "".join(dump_c.iter_c(btf, sort=args.sort, roots=roots))
    out.write(text.encode("utf-8", "surrogateescape"))


#: ``btfkit dump --format NAME``: writes the dump of a BTF to a binary stream.
DUMP_FORMATS: dict[str, Callable[[BTF, IO[bytes], argparse.Namespace], None]] = {
    "raw": _dump_raw,
    "json": _dump_json,
    "c": _dump_c,
}


def _dump_ext(args: argparse.Namespace) -> int:
    from ..format.elf import btf_sections  # noqa: PLC0415
    from ..format.ext import parse as parse_ext  # noqa: PLC0415
    from ..format.reader import is_raw_btf  # noqa: PLC0415
    from ..outputs.ext import dump_ext  # noqa: PLC0415

    with open(args.file, "rb") as f:
        data = f.read()
    if is_raw_btf(data) or btf_sections(data, args.file).ext is None:
        raise BTFError(f"{args.file}: no .BTF.ext section")
    btf = load_input(args.file, args.base)
    sys.stdout.flush()
    ext = btf_sections(data, args.file).ext
    assert ext is not None
    dump_ext(btf, parse_ext(ext), sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return 0


def _cmd_dump(args: argparse.Namespace) -> int:
    if args.ext:
        return _dump_ext(args)
    fmt = "json" if (args.json or args.pretty) and args.format == "raw" else args.format
    if fmt != "c" and (args.sort or args.type or args.more):
        raise BTFError("--sort, --type and several files go with --format c")
    if args.more:
        from ..outputs.c import merge_modules  # noqa: PLC0415

        if not args.base:
            raise BTFError("merging several modules into one header needs their base (-B)")
        base = load(args.base)
        btf = merge_modules([load(path, base) for path in [args.file, *args.more]])
    else:
        btf = load_input(args.file, args.base)
    sys.stdout.flush()
    DUMP_FORMATS[fmt](btf, sys.stdout.buffer, args)
    sys.stdout.buffer.flush()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    dump = sub.add_parser("dump", help="print the types, as bpftool btf dump file does", epilog=examples(
        "btfkit dump /sys/kernel/btf/vmlinux --format c > vmlinux.h",
        "btfkit dump /sys/kernel/btf/vmlinux --root-id 1 --root-id 2",
        "btfkit dump mod1.ko mod2.ko -B vmlinux -f c --sort --type sk_buff > mods.h",
    ))  # fmt: skip
    dump.add_argument("file", help="raw BTF, ELF object, module (.ko[.xz|.zst|.gz]), vmlinuz or sysfs path")
    dump.add_argument("more", nargs="*", metavar="module",
                      help="more modules over the same base, merged into one C header")  # fmt: skip
    dump.add_argument("-B", "--base", help="base BTF for a split file (raw/JSON print only its own types); "
                      "a module's own kernel's when omitted")  # fmt: skip
    dump.add_argument("-f", "--format", choices=sorted(DUMP_FORMATS), default="raw",
                      help="raw text (default), JSON or a C header (vmlinux.h), as bpftool 7.1 prints them")  # fmt: skip
    dump.add_argument("--sort", action="store_true", help="C: order types by kind and name (bpftool 7.5's default order, anonymous enums aside)")
    dump.add_argument("--type", action="append", metavar="NAME",
                      help="C: only types of this name and what they need (repeatable)")  # fmt: skip
    dump.add_argument("-j", "--json", action="store_true", help="same as --format json")
    dump.add_argument("-p", "--pretty", action="store_true", help="pretty-printed JSON (implies -j)")
    dump.add_argument("--root-id", type=int, action="append", metavar="ID",
                      help="print only this type (repeatable; order kept); btfkit's own, not bpftool 7.1's")  # fmt: skip
    dump.add_argument("--ext", action="store_true",
                      help="print the object's .BTF.ext: functions, source lines and CO-RE relocations")  # fmt: skip
    dump.set_defaults(func=_cmd_dump)

