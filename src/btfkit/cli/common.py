"""What the commands share: reading an input with its base, and how the process ends."""

from __future__ import annotations

import argparse
import struct
import sys

from ..errors import BaseMismatchError
from ..format.btf import BTF
from ..format.reader import load, read_input

SYS_VMLINUX = "/sys/kernel/btf/vmlinux"

#: Set by :func:`btfkit.cli.app.run`: the process ends right after the command, without
#: tearing down, so a command may keep what it built for the exit to drop.
exiting_fast = False


def note(message: str) -> None:
    """A line for the user on stderr that is neither output nor an error."""
    print(f"btfkit: {message}", file=sys.stderr)


def module_image(path: str, data: bytes | None = None) -> bytes | None:
    """The (decompressed) ELF image of ``path`` (read already: ``data``) if it is a kernel module, else None."""
    from ..format.elf import unwrap  # noqa: PLC0415 (raw BTF, the common case, needs no ELF code)
    from ..format.kernelinfo import is_kernel_module  # noqa: PLC0415

    if path.startswith("/sys/"):
        return None  # sysfs modules get their base from the reader
    if data is None:
        data = read_input(path)
    if data[:2] in (b"\x9f\xeb", b"\xeb\x9f"):
        return None
    image = bytes(unwrap(data, path))
    return image if is_kernel_module(image) else None


def _needs_base(image: bytes, path: str) -> bool:
    """Whether a module's ``.BTF`` is split BTF (its string section does not start with NUL)
    on the vmlinux: one with its own distilled base (``.BTF.base``) reads without one."""
    from ..format.elf import btf_sections  # noqa: PLC0415

    sections = btf_sections(image, path)
    if sections.base_btf is not None:
        return False
    raw = sections.btf
    if len(raw) < 24:
        return True
    end = "<" if raw[:2] == b"\x9f\xeb" else ">"
    hdr_len, _type_off, _type_len, str_off, str_len = struct.unpack_from(end + "5I", raw, 4)
    return bool(str_len == 0 or raw[hdr_len + str_off] != 0)


def warn_other_kernel(path: str, image: bytes, base: str) -> None:
    """Warn (stderr) when module ``path`` was built for another kernel than ``base`` is, where both are known."""
    from ..format.kernelinfo import base_release, module_release  # noqa: PLC0415

    built, theirs = module_release(image, path), base_release(base)
    if built and theirs and built != theirs:
        note(f"warning: {path} was built for kernel {built}, but the base {base} is {theirs}'s")


def base_for(path: str, base: str | None, data: bytes | None = None) -> str | None:
    """The base to read ``path`` on: ``base`` if given (with a warning when ``path`` is a module
    built for another kernel than ``base`` is); for a module with split BTF and no ``base``,
    its own kernel's vmlinux (:func:`btfkit.format.kernelinfo.find_module_base`), said on stderr."""
    from ..format.kernelinfo import require_module_base  # noqa: PLC0415

    image = module_image(path, data)
    if image is None:
        return base
    if base is not None:
        warn_other_kernel(path, image, base)
        return base
    if not _needs_base(image, path):
        return None
    choice = require_module_base(path, image)
    note(f"{path}: base {choice.path} (the module's kernel, {choice.release})")
    return choice.path


def load_input(path: str, base: str | None, data: bytes | None = None) -> BTF:
    """Read ``path`` (or its contents, ``data``, read once already) as BTF, split on the BTF
    read from ``base`` (see :func:`base_for`)."""
    if data is None:
        data = read_input(path)  # once: bounded, and a FIFO cannot be read twice
    base = base_for(path, base, data)
    base_btf = load(base) if base else None
    try:
        return load(data, base_btf, name=path)
    except BaseMismatchError as exc:
        raise BaseMismatchError(f"{path} on base {base}: {exc}") from exc


def count(text: str) -> int:
    """An argparse type: a count of processes, 1 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: give 1 or more")
    return n


def jobs_and_progress(parser: argparse.ArgumentParser) -> None:
    """The options of a command that works on a module tree: worker count and progress bar."""
    parser.add_argument("-j", "--jobs", type=count, help="worker processes (default: all CPUs)")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar even when stderr is not a terminal")  # fmt: skip


def examples(*commands: str) -> str:
    """A subcommand's help epilog: real example command lines."""
    return "examples:\n" + "\n".join(f"  {command}" for command in commands)


def size_text(n: int) -> str:
    """A byte count for people: the exact number, and KiB or MiB beside it when large."""
    if n < 1024:
        return f"{n} bytes"
    unit, scale = ("MiB", 1 << 20) if n >= 1 << 20 else ("KiB", 1 << 10)
    return f"{n / scale:.1f} {unit} ({n:,} bytes)"


def print_json(value: object) -> None:
    """``value`` as indented JSON on stdout (for scripts: ``--json``)."""
    import json  # noqa: PLC0415 (only --json needs it)

    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")
