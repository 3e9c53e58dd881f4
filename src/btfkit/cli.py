"""The ``btfkit`` command line: a thin layer of argument parsing over the library.

Every failure btfkit understands ends as one ``btfkit: error: ...`` line on
stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

from .errors import BTFError
from .format.btf import BTF
from .format.reader import is_raw_btf, load
from .format.writer import write


def _load(path: str, base: str | None) -> BTF:
    return load(path, load(base) if base else None)


def _cmd_info(args: argparse.Namespace) -> int:
    btf = _load(args.file, args.base)
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


# Each command imports its modules when it runs, so that a command's start-up
# pays only for what it uses (pyelftools, DWARF and dedup code are heavy).


def _cmd_validate(args: argparse.Namespace) -> int:
    from .format.validate import validate, validate_bytes  # noqa: PLC0415 (see above)

    btf = _load(args.file, args.base)
    with open(args.file, "rb") as f:
        head = f.read(2)
    if is_raw_btf(head):  # raw BTF: also check the header layout the reader tolerates
        with open(args.file, "rb") as f:
            validate_bytes(f.read(), btf.base)
    else:
        validate(btf)
    print(f"OK: {len(btf)} types")
    return 0


def _dump_raw(btf: BTF, out: IO[bytes], args: argparse.Namespace) -> None:
    from .outputs.raw import dump_raw  # noqa: PLC0415 (imported on use, see above)

    dump_raw(btf, out, args.root_id)


def _dump_json(btf: BTF, out: IO[bytes], args: argparse.Namespace) -> None:
    from .outputs.json import dump_json  # noqa: PLC0415

    dump_json(btf, out, args.root_id, pretty=args.pretty)


def _dump_c(btf: BTF, out: IO[bytes], args: argparse.Namespace) -> None:
    from .outputs import c as dump_c  # noqa: PLC0415

    if _exit_fast:  # the process ends after this: keep the dumper, and no collections
        dump_c.kept_for_exit = []
        gc.disable()

    roots = [*(args.root_id or ()), *(args.type or ())]
    # One encode and one write: far cheaper than one per piece.
    # A second process pays off where a second CPU is free to run it.
    parallel = len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else False
    text = "".join(dump_c.iter_c(btf, sort=args.sort, roots=roots, parallel=parallel))
    out.write(text.encode("utf-8", "surrogateescape"))


#: ``btfkit dump --format NAME``: writes the dump of a BTF to a binary stream.
DUMP_FORMATS: dict[str, Callable[[BTF, IO[bytes], argparse.Namespace], None]] = {
    "raw": _dump_raw,
    "json": _dump_json,
    "c": _dump_c,
}


def _cmd_dump(args: argparse.Namespace) -> int:
    fmt = "json" if (args.json or args.pretty) and args.format == "raw" else args.format
    if fmt != "c" and (args.sort or args.type or args.more):
        raise BTFError("--sort, --type and several files go with --format c")
    if args.more:
        from .outputs.c import merge_modules  # noqa: PLC0415

        if not args.base:
            raise BTFError("merging several modules into one header needs their base (-B)")
        base = load(args.base)
        btf = merge_modules([load(path, base) for path in [args.file, *args.more]])
    else:
        btf = _load(args.file, args.base)
    sys.stdout.flush()
    DUMP_FORMATS[fmt](btf, sys.stdout.buffer, args)
    sys.stdout.buffer.flush()
    return 0


_SYS_VMLINUX = "/sys/kernel/btf/vmlinux"


def _cmd_encode(args: argparse.Namespace) -> int:
    from .sources.encode import encode, write_section  # noqa: PLC0415
    from .transforms.dedup import BaseIndex  # noqa: PLC0415 (imported on use, see above)

    if (args.output is None) == (not args.in_place):
        raise BTFError("give exactly one of -o OUT.btf and --in-place")
    if args.output is not None and len(args.files) > 1:
        raise BTFError("-o takes one object; use --in-place for several")
    base_path = None if args.no_base else args.base or (_SYS_VMLINUX if os.path.exists(_SYS_VMLINUX) else None)
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
    from .sources.encode import link  # noqa: PLC0415 (imported on use, see above)

    write(link(args.files, load(args.base) if args.base else None), args.output)
    return 0


def _cmd_dedup(args: argparse.Namespace) -> int:
    from .transforms.dedup import dedup  # noqa: PLC0415 (imported on use, see above)
    from .transforms.modtree import (  # noqa: PLC0415
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
        btf = _load(args.inputs[0], args.base)
        before, n_before = raw_size(btf), len(btf)
        dedup(btf)
        write(btf, args.output)
        print(f"{n_before} -> {len(btf)} types, {before} -> {raw_size(btf)} bytes")
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
    if args.report:
        print(f"{'module':<40} {'alone':>10} {'split':>10}")
        for r in ok:
            print(f"{r.output.removesuffix('.btf'):<40} {r.bytes_in:>10} {r.bytes_out:>10}")
        print(f"{len(ok)} modules: deduplicated alone {b_in} bytes ({t_in} types); "
              f"split against the base {b_out} bytes ({t_out} types); "
              f"base {raw_size(base)} bytes ({len(base)} types)")  # fmt: skip
    else:
        print(f"{len(ok)} modules: {t_in} -> {t_out} types, {b_in} -> {b_out} bytes")
    return 1 if failed else 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from .transforms.merge import merge  # noqa: PLC0415 (imported on use, see above)

    base = load(args.base)
    write(merge([load(path, base) for path in args.inputs], base), args.output)
    return 0


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, sized without shutil.

    argparse makes a formatter for every argument it adds, and its default asks
    shutil (with bz2 and lzma behind it) for the terminal width: a tenth of a
    small command's start-up.  The width is the same: the terminal's less two.
    """

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ["COLUMNS"])
        except (KeyError, ValueError):
            try:
                columns = os.get_terminal_size().columns
            except OSError:
                columns = 80
        super().__init__(prog, width=columns - 2)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help (and its subcommands' help) uses :class:`_Formatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="btfkit", description="Read, build, deduplicate and dump BTF.")
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarize a BTF file")
    info.add_argument("file", help="raw BTF, ELF object, module (.ko[.xz|.zst|.gz]), vmlinuz or sysfs path")
    info.add_argument("-B", "--base", help="base BTF for a split file")
    info.set_defaults(func=_cmd_info)

    check = sub.add_parser("validate", help="check a BTF file against the kernel verifier's rules")
    check.add_argument("file", help="raw BTF, ELF object, module, vmlinuz or sysfs path")
    check.add_argument("-B", "--base", help="base BTF for a split file")
    check.set_defaults(func=_cmd_validate)

    dump = sub.add_parser("dump", help="print the types, as bpftool btf dump file does")
    dump.add_argument("file", help="raw BTF, ELF object, module (.ko[.xz|.zst|.gz]), vmlinuz or sysfs path")
    dump.add_argument("more", nargs="*", metavar="module",
                      help="more modules over the same base, merged into one C header")  # fmt: skip
    dump.add_argument("-B", "--base", help="base BTF for a split file (raw/JSON print only its own types)")
    dump.add_argument("-f", "--format", choices=sorted(DUMP_FORMATS), default="raw",
                      help="raw text (default), JSON or a C header (vmlinux.h), as bpftool 7.1 prints them")  # fmt: skip
    dump.add_argument("--sort", action="store_true", help="C: order types by kind and name (newer bpftool's order)")
    dump.add_argument("--type", action="append", metavar="NAME",
                      help="C: only types of this name and what they need (repeatable)")  # fmt: skip
    dump.add_argument("-j", "--json", action="store_true", help="same as --format json")
    dump.add_argument("-p", "--pretty", action="store_true", help="pretty-printed JSON (implies -j)")
    dump.add_argument("--root-id", type=int, action="append", metavar="ID",
                      help="print only this type (repeatable; order kept)")  # fmt: skip
    dump.set_defaults(func=_cmd_dump)

    enc = sub.add_parser("encode", help="make an object's BTF from its DWARF, as pahole -J does")
    enc.add_argument("files", nargs="+", metavar="file",
                     help="ELF object or kernel module (.o, .ko) with DWARF (several with --in-place)")  # fmt: skip
    enc.add_argument("-B", "--base", help=f"base BTF to split on (any readable form; default {_SYS_VMLINUX} "
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

    dd = sub.add_parser("dedup", help="deduplicate BTF as libbpf 1.1 does; many modules at once against one base")
    dd.add_argument("inputs", nargs="+", metavar="input",
                    help="a BTF file, or modules (.ko[.xz|.zst|.gz]), directories or an unpacked kernel package")  # fmt: skip
    dd.add_argument("-B", "--base", help="base BTF (vmlinux, vmlinuz, raw BTF); found in a kernel package if omitted")
    dd.add_argument("-o", "--output", help="output file (one input) or directory (modules)")
    dd.add_argument("-j", "--jobs", type=int, help="worker processes (default: all CPUs)")
    dd.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    dd.add_argument("--report", action="store_true",
                    help="per module: size deduplicated alone (with the base types it needs) vs split; writes nothing")  # fmt: skip
    dd.set_defaults(func=_cmd_dedup)

    mg = sub.add_parser("merge", help="merge split BTFs over one base into one split BTF, deduplicated")
    mg.add_argument("inputs", nargs="+", metavar="input", help="split BTF files or modules over the base")
    mg.add_argument("-B", "--base", required=True, help="their base BTF")
    mg.add_argument("-o", "--output", required=True, help="write raw split BTF to this file")
    mg.set_defaults(func=_cmd_merge)
    return p


def _silence_stdout() -> None:
    """After the reader went away, point stdout at /dev/null so the exit-time flush is quiet."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (e.g. captured output): nothing will be flushed there


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BTFError as exc:
        print(f"btfkit: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"btfkit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


# Set by run(): the process ends right after the command, without tearing down.
_exit_fast = False


def run() -> NoReturn:
    """The ``btfkit`` program: :func:`main`, then an exit that frees nothing.

    A vmlinux's BTF and its C dumper are some 300,000 objects: freeing them
    costs 4% of writing a vmlinux.h, for a process that is about to end anyway.
    So the output is flushed and the process ends at once (``os._exit``).
    """
    global _exit_fast  # noqa: PLW0603
    _exit_fast = True
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away, as main() allows
    except OSError as exc:
        print(f"btfkit: error: {exc.strerror or exc}", file=sys.stderr)
        code = 1
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
