"""``btfkit encode`` and ``btfkit link``: BTF from DWARF, and from compilers' .BTF sections."""

from __future__ import annotations

import argparse

from ..errors import BTFError
from ..format.reader import load
from ..format.writer import refuse_overwriting, write
from .common import SYS_VMLINUX, count, examples, module_image, note, warn_other_kernel


def _encode_base(files: list[str], base: str | None) -> str | None:
    """The base to encode ``files`` on: ``-B`` if given; else, for kernel modules, their
    kernel's vmlinux (one kernel for all of them); other objects get standalone BTF."""
    from ..format.kernelinfo import require_module_base  # noqa: PLC0415

    modules = {path: image for path in files if (image := module_image(path)) is not None}
    if base is not None:
        for path, image in modules.items():
            warn_other_kernel(path, image, base)
        return base
    if not modules:
        return None
    if len(modules) < len(files):
        raise BTFError("kernel modules and other objects in one run: encode them separately")
    choices = {path: require_module_base(path, image) for path, image in modules.items()}
    releases = {c.release for c in choices.values()}
    if len(releases) > 1:
        raise BTFError(f"modules of several kernels ({', '.join(sorted(map(str, releases)))}): "
                       "encode each kernel's apart, or give one base with -B")  # fmt: skip
    choice = next(iter(choices.values()))
    note(f"base {choice.path} (the modules' kernel, {choice.release})")
    return choice.path


def _cmd_encode(args: argparse.Namespace) -> int:
    from ..sources.encode import encode, write_section  # noqa: PLC0415
    from ..sources.portable import distilled_base_name  # noqa: PLC0415
    from ..transforms.dedup import BaseIndex  # noqa: PLC0415 (imported on use, see above)
    from ..transforms.distill import distill  # noqa: PLC0415
    from ..transforms.modtree import Progress, progress_stream  # noqa: PLC0415

    if (args.output is None) == (not args.in_place):
        raise BTFError("give exactly one of -o OUT.btf and --in-place")
    if args.output is not None and len(args.files) > 1:
        raise BTFError("-o takes one object; use --in-place for several")
    base_path = None if args.no_base else _encode_base(args.files, args.base)
    if args.output is not None:
        refuse_overwriting(args.output, [*args.files, base_path])
    base = load(base_path) if base_path else None
    if args.distill and base is None:
        raise BTFError("--distill needs the base the object is split on (-B VMLINUX)")
    index = BaseIndex(base) if base is not None else None  # prepared once for all the objects
    bar = Progress(len(args.files), progress_stream() if len(args.files) > 1 else None, label="objects")
    for path in args.files:
        btf = encode(path, base, index=index, name=path, check_base=not args.no_base_check,
                     gen_floats=args.btf_gen_floats, jobs=args.jobs)  # fmt: skip
        if args.distill:
            distilled, split = distill(btf)
            if args.in_place:
                write_section(path, split, distilled)
            else:
                write(split, args.output)
                write(distilled, distilled_base_name(args.output))
        elif args.in_place:
            write_section(path, btf)
        else:
            write(btf, args.output)
        bar.step()
    bar.close()
    return 0


def _cmd_link(args: argparse.Namespace) -> int:
    from ..sources.encode import link  # noqa: PLC0415 (imported on use, see above)

    refuse_overwriting(args.output, [*args.files, args.base])
    notes: dict[str, list[str]] = {}
    btf = link(args.files, load(args.base) if args.base else None, notes=notes)
    write(btf, args.output)
    for name, done in notes.items():
        note(f"{name}: {len(done)} fixes, as libbpf makes when it opens the object and as the kernel "
             f"needs (btfkit validate {name} lists libbpf's)")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands of this module to the ``btfkit`` parser."""
    enc = sub.add_parser("encode", help="make an object's BTF from its DWARF, as pahole -J does", epilog=examples(
        "btfkit encode --in-place -B /usr/lib/debug/boot/vmlinux-$(uname -r) foo.ko",
        "btfkit encode prog.o -o prog.btf",
        "btfkit encode --in-place --btf_gen_floats a.ko b.ko c.ko",
    ))  # fmt: skip
    enc.add_argument("files", nargs="+", metavar="file",
                     help="ELF object or kernel module (.o, .ko) with DWARF (several with --in-place)")  # fmt: skip
    enc.add_argument("-B", "--base", help="base BTF to split on (any readable form); default for kernel modules: "
                     f"their kernel's vmlinux ({SYS_VMLINUX} if they were built for the running kernel), "
                     "for other objects none")  # fmt: skip
    enc.add_argument("--no-base", action="store_true", help="standalone BTF, even for kernel modules")
    enc.add_argument("--btf_gen_floats", "--btf-gen-floats", action="store_true",
                     help="floats as FLOAT, not INT (pahole's option, which kernel builds use)")  # fmt: skip
    enc.add_argument("-j", "--jobs", type=count,
                     help="processes encoding a large object's compilation units (default: all CPUs)")  # fmt: skip
    enc.add_argument("--no-base-check", action="store_true",
                     help="accept a module whose struct module is not the base's")  # fmt: skip
    enc.add_argument("--distill", action="store_true",
                     help="portable module BTF: split on a distilled base, written beside it (-o: "
                          "OUT.base.btf) or as .BTF.base (--in-place), as pahole --btf_features=distilled_base")  # fmt: skip
    out = enc.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="write raw BTF to this file")
    out.add_argument("--in-place", action="store_true", help="write it into the object's .BTF section")
    enc.set_defaults(func=_cmd_encode)


    lnk = sub.add_parser("link", help="merge and deduplicate the .BTF sections of objects (gcc -gbtf)", epilog=examples(
        "btfkit link a.bpf.o b.bpf.o -o prog.btf",
        "btfkit link extra.o -B /sys/kernel/btf/vmlinux -o extra.btf",
    ))  # fmt: skip
    lnk.add_argument("files", nargs="+", help="ELF objects with a .BTF section")
    lnk.add_argument("-B", "--base", help="base BTF to split the result on")
    lnk.add_argument("-o", "--output", required=True, help="write raw BTF to this file")
    lnk.set_defaults(func=_cmd_link)

