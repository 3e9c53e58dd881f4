"""Kernels as inputs: a BTF or vmlinux file, an archive tarball, or a tree of vmlinux and modules.

:func:`open_kernel` turns any of these into a :class:`Kernel`: the raw vmlinux
BTF and, for trees and archive entries, each module's raw split BTF by module
name.  The diff and the archive read kernels only through it.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BTFError, ELFError
from ..format.btf import BTF
from ..format.elf import btf_sections
from ..format.kernelinfo import file_release
from ..format.reader import is_raw_btf, parse

#: Module file names: ``ext4.ko``, ``ext4.ko.xz``, ``.ko.zst``, ``.ko.gz``.
MODULE_RE = re.compile(r"^(?P<name>.+)\.ko(\.(xz|zst|gz|bz2))?$")
ARCHIVE_SUFFIX = ".btf.tar.xz"


def module_name(path: str) -> str | None:
    """The module name of a module file name (``ext4`` for ``ext4.ko.xz``), ``None`` for other files."""
    m = MODULE_RE.match(os.path.basename(path))
    return m.group("name") if m else None


def btf_of(data: bytes, name: str) -> bytes:
    """The raw ``.BTF`` of ``data``: raw BTF as it is, else the section of an ELF, module or bzImage."""
    if is_raw_btf(data):
        return data
    return bytes(btf_sections(data, name).btf)


@dataclass
class Kernel:
    """One kernel's BTF: vmlinux, and its modules' split BTF (raw bytes, read on demand)."""

    name: str  # where it came from, for messages
    release: str
    read_vmlinux: Callable[[], bytes]
    #: Module name -> a function giving its raw split BTF (``None``: the module has no BTF).
    modules: dict[str, Callable[[], bytes | None]] = field(default_factory=dict)

    def vmlinux(self) -> BTF:
        """The vmlinux BTF."""
        return parse(self.read_vmlinux())


def read_file(path: Path) -> bytes:
    """The contents of ``path``; an unreadable file is an :class:`~btfkit.errors.ELFError` naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ELFError(f"{path}: {exc.strerror}") from exc


def _file_btf(path: Path) -> Callable[[], bytes]:
    return lambda: btf_of(read_file(path), str(path))


def module_btf(data: bytes, name: str) -> bytes | None:
    """A module's raw ``.BTF`` (``None`` when it has none: built without BTF)."""
    try:
        return btf_of(data, name)
    except ELFError as exc:
        if "no .BTF section" in str(exc):
            return None
        raise


def _module_reader(path: Path) -> Callable[[], bytes | None]:
    return lambda: module_btf(read_file(path), str(path))


def constant(data: bytes | None) -> Callable[[], bytes | None]:
    """A reader of data already in memory."""
    return lambda: data


def _from_tarball(path: Path) -> Kernel:
    """An archive entry: ``<release>.btf`` (vmlinux) and ``<release>/modules/<name>.btf``."""
    release = path.name.removesuffix(ARCHIVE_SUFFIX)
    try:
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ELFError(f"{path}: unreadable archive entry: {exc}") from exc
    vmlinux = members.get(f"{release}.btf")
    if vmlinux is None:
        raise ELFError(f"{path}: no {release}.btf member")
    prefix = f"{release}/modules/"
    modules = {
        n[len(prefix) : -len(".btf")]: constant(data)
        for n, data in members.items()
        if n.startswith(prefix) and n.endswith(".btf")
    }
    return Kernel(str(path), release, lambda: vmlinux, modules)


@dataclass(frozen=True)
class KernelTree:
    """Where a kernel's files are in an unpacked package or a system tree."""

    release: str
    vmlinux: Path  # an ELF vmlinux, a bzImage, or raw BTF
    modules_dir: Path | None


def find_trees(root: Path) -> list[KernelTree]:
    """The kernels in a directory: an unpacked image (or ``-dbg``) package, a root file system,
    a ``/lib/modules/<release>`` tree, or a directory holding ``vmlinux`` and modules."""
    found: list[KernelTree] = []
    if (root / "modules.dep").exists() or (root / "kernel").is_dir():  # /lib/modules/<release>
        release = root.name
        for image in (root / "build" / "vmlinux", root.parent.parent.parent / "boot" / f"vmlinuz-{release}",
                      Path("/usr/lib/debug/boot") / f"vmlinux-{release}", Path("/boot") / f"vmlinuz-{release}"):  # fmt: skip
            if image.exists():
                return [KernelTree(release, image, root)]
        raise BTFError(f"{root}: no vmlinux or vmlinuz for release {release} next to it")
    for boot in (root / "boot", root / "usr/lib/debug/boot"):
        for image in sorted(boot.glob("vmlinu[xz]-*")) if boot.is_dir() else ():
            release = image.name.split("-", 1)[1]
            mods = next((d for d in (root / "lib/modules" / release, root / "usr/lib/debug/lib/modules" / release)
                         if d.is_dir()), None)  # fmt: skip
            if all(t.release != release for t in found):
                found.append(KernelTree(release, image, mods))
    if not found and (root / "vmlinux").is_file():  # a directory of vmlinux and modules
        return [KernelTree(root.name, root / "vmlinux", root)]
    if not found:
        raise BTFError(
            f"{root}: no kernel found (want boot/vmlinuz-*, vmlinux, or a /lib/modules/<release> tree)"
        )
    return found


def tree_modules(modules_dir: Path | None) -> dict[str, Path]:
    """Module name -> module file, for every module under ``modules_dir``."""
    out: dict[str, Path] = {}
    if modules_dir is None:
        return out
    for dirpath, _dirs, files in os.walk(modules_dir):
        for f in files:
            name = module_name(f)
            if name is not None:
                out.setdefault(name, Path(dirpath) / f)
    return dict(sorted(out.items()))


def open_kernel(path: str | os.PathLike[str]) -> Kernel:
    """The kernel at ``path``: a BTF/vmlinux/vmlinuz file, an archive tarball, or a kernel tree."""
    p = Path(path)
    if p.is_dir():
        trees = find_trees(p)
        if len(trees) != 1:
            raise BTFError(
                f"{p}: holds {len(trees)} kernels ({', '.join(t.release for t in trees)}); name one"
            )
        tree = trees[0]
        modules = {n: _module_reader(f) for n, f in tree_modules(tree.modules_dir).items()}
        return Kernel(str(p), tree.release, _file_btf(tree.vmlinux), modules)
    if p.name.endswith(ARCHIVE_SUFFIX):
        return _from_tarball(p)
    return Kernel(str(p), file_release(p), _file_btf(p))

