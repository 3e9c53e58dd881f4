"""What a kernel file says about the kernel it belongs to, and where a module's base is.

Split BTF records nothing about its base, but a kernel module records the kernel
release it was built for (``vermagic=`` in ``.modinfo``, as ``modinfo -F vermagic``
prints it) and a kernel image records its own (the ``Linux version`` banner, and
in a bzImage the setup header's version string).  :func:`find_module_base` uses them
to pick the vmlinux a module's BTF extends; :func:`base_release` tells the release
of a base given by hand, so that a mismatch can be warned about.  Raw BTF records
neither: for raw files only the checks of :mod:`btfkit.format.basefit` remain.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from ..errors import BTFError, ELFError
from .elf import SHT_NOBITS, bzimage_payload, section_table, unwrap

__all__ = ["BaseChoice", "base_release", "file_release", "find_module_base", "is_kernel_module",
           "module_release", "package_release", "running_release"]

SYS_VMLINUX = "/sys/kernel/btf/vmlinux"
_THIS_MODULE = b".gnu.linkonce.this_module"
_MODINFO = b".modinfo"
_BANNER = b"Linux version "


def running_release() -> str:
    """The running kernel's release (``uname -r``)."""
    return os.uname().release


def package_release(directory: str | os.PathLike[str]) -> str | None:
    """The release of an unpacked kernel package (or root): its ``boot/vmlinuz-<release>``
    (the first, sorted, where there are several), None without one."""
    boot = os.path.join(directory, "boot")
    names = sorted(os.listdir(boot)) if os.path.isdir(boot) else []
    return next((n.removeprefix("vmlinuz-") for n in names if n.startswith("vmlinuz-")), None)


def file_release(path: str | os.PathLike[str]) -> str:
    """The release a kernel file stands for, to name it by: the running kernel's for
    /sys/kernel/btf/vmlinux; ``<release>`` of ``vmlinuz-<release>`` or ``vmlinux-<release>``
    (a -dbg package's); for a ``vmlinux``, its unpacked package's release, else its
    directory's name; other files go by their name."""
    path = os.path.abspath(path)
    if path == SYS_VMLINUX:
        return running_release()
    name = os.path.basename(path)
    for prefix in ("vmlinuz-", "vmlinux-"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    if name != "vmlinux":
        return name
    parent = os.path.dirname(path)
    return package_release(parent) or os.path.basename(os.path.realpath(parent))


def _sections(data: bytes | bytearray | memoryview) -> dict[bytes, bytes]:
    """Section name -> contents of an ELF (the one checked section-table reader's view);
    {} for anything that is not a readable ELF: this only looks for ``.modinfo``."""
    try:
        table = section_table(data, "ELF")
    except ELFError:
        return {}
    return {
        name: bytes(data[h.offset : h.offset + h.size])
        for h, name in zip(table.headers, table.names, strict=True)
        if h.type != SHT_NOBITS and name
    }


def is_kernel_module(data: bytes | bytearray | memoryview) -> bool:
    """Whether an ELF object is a kernel module (it has ``.modinfo`` or ``.gnu.linkonce.this_module``)."""
    sections = _sections(data)
    return _MODINFO in sections or _THIS_MODULE in sections


def module_release(data: bytes | bytearray | memoryview, name: str = "module") -> str | None:
    """The kernel release a module was built for (first word of its vermagic), or None."""
    modinfo = _sections(unwrap(data, name)).get(_MODINFO, b"")
    for entry in modinfo.split(b"\0"):
        if entry.startswith(b"vermagic="):
            words = entry[len(b"vermagic=") :].split()
            return words[0].decode("utf-8", "replace") if words else None
    return None


def _image_release(data: bytes | bytearray | memoryview) -> str | None:
    """The release of a kernel image: a bzImage's setup-header string, or an ELF's banner."""
    if bzimage_payload(data) is not None:
        (pointer,) = struct.unpack_from("<H", data, 0x20E)  # kernel_version, 0x200 bytes before
        version = bytes(data[pointer + 0x200 : pointer + 0x300]).split(b"\0", 1)[0].split()
        if pointer and version:
            return version[0].decode("utf-8", "replace")
        data = unwrap(data, "image")
    text = bytes(data)
    at = text.find(_BANNER)
    while at >= 0:  # the banner itself, not a format string such as "Linux version %s"
        words = text[at + len(_BANNER) : at + len(_BANNER) + 200].split()
        if words and not words[0].startswith(b"%"):
            return words[0].decode("utf-8", "replace")
        at = text.find(_BANNER, at + 1)
    return None


def base_release(path: str) -> str | None:
    """The kernel release of a base given as a path: the running kernel's for
    ``/sys/kernel/btf/vmlinux``, the banner's for a vmlinux or vmlinuz, None for raw BTF."""
    if os.path.realpath(path) == os.path.realpath(SYS_VMLINUX):
        return running_release()
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] in (b"\x9f\xeb", b"\xeb\x9f"):  # raw BTF records no release
        return None
    return _image_release(data)


@dataclass
class BaseChoice:
    """Where a module's base was found (``path``, None if nowhere), and every place looked at."""

    release: str | None
    path: str | None
    tried: list[str] = field(default_factory=list)


#: How many directories above a module are searched for its kernel package's vmlinux.
_PACKAGE_DEPTH = 8


def _package_images(module: str, release: str) -> list[str]:
    """Kernel images of the unpacked package (or corpus) a module lies in: in the directories
    above it, ``vmlinux``, ``vmlinuz``, ``boot/vmlinux-<release>``, ``boot/vmlinuz-<release>``
    (those not named for the release must carry it in their banner)."""
    found = []
    folder = os.path.dirname(os.path.abspath(module))
    for _ in range(_PACKAGE_DEPTH):
        # An ELF vmlinux first: a bzImage must be decompressed before its BTF can be read.
        for name in (f"boot/vmlinux-{release}", "vmlinux", f"boot/vmlinuz-{release}", "vmlinuz"):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and (release in name or base_release(path) == release):
                found.append(path)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return found


def find_module_base(module: str, data: bytes | bytearray | memoryview) -> BaseChoice:
    """The vmlinux a kernel module's split BTF extends, found from its vermagic release.

    The running kernel's BTF (``/sys/kernel/btf/vmlinux``) only when the module was
    built for the running kernel; otherwise the vmlinux of the unpacked kernel package
    the module lies in, then Debian's debug vmlinux (``/usr/lib/debug/boot/vmlinux-<release>``),
    then the installed image (``/boot/vmlinux-<release>``, ``/boot/vmlinuz-<release>``).
    """
    release = module_release(data, module)
    if release is None:
        return BaseChoice(None, None, [f"{module}: no vermagic in .modinfo"])
    choice = BaseChoice(release, None)
    if release == running_release() and os.path.exists(SYS_VMLINUX):
        choice.path = SYS_VMLINUX
        return choice
    choice.tried.append(f"{SYS_VMLINUX} (the running kernel is {running_release()})")
    package = _package_images(module, release)
    if package:
        choice.path = package[0]
        return choice
    choice.tried.append(f"the directories above {module} (an unpacked kernel package)")
    for path in (f"/usr/lib/debug/boot/vmlinux-{release}", f"/usr/lib/debug/lib/modules/{release}/vmlinux",
                 f"/boot/vmlinux-{release}", f"/boot/vmlinuz-{release}"):  # fmt: skip
        if os.path.isfile(path) and os.access(path, os.R_OK):
            choice.path = path
            return choice
        choice.tried.append(path)
    return choice


def require_module_base(module: str, data: bytes | bytearray | memoryview) -> BaseChoice:
    """:func:`find_module_base`, raising a :class:`BTFError` that names ``-B`` and where it looked."""
    choice = find_module_base(module, data)
    if choice.path is None:
        built = f"built for {choice.release}" if choice.release else "no kernel release recorded"
        raise BTFError(f"{module}: no base found ({built}; looked at {', '.join(choice.tried)}): "
                       "give its vmlinux with -B")  # fmt: skip
    return choice
