"""An archive of kernel BTF in BTFHub's layout, with every module's split BTF.

``DIR/<distro>/<version>/<arch>/<release>.btf.tar.xz`` holds, as BTFHub's do,
``<release>.btf`` (the vmlinux BTF, byte for byte the kernel's ``.BTF``), and
beyond BTFHub ``<release>/modules/<name>.btf`` for every module: its ``.BTF``
exactly as the ``.ko`` carries it (split BTF over that vmlinux).  ``DIR/index.json``
lists every kernel archived: release, where its tarball is, its size and sha256,
and each member's size and sha256.

Inputs are Debian kernel packages (``linux-image-*.deb``, ``-unsigned``), read
without unpacking them, and directories: unpacked packages, root file systems,
``/lib/modules/<release>`` trees.  :func:`plan` turns inputs into :class:`Job`\\ s,
one per kernel; :func:`build` makes one kernel's tarball (a pure function of its
input: the same bytes wherever it runs); :func:`archive` runs the jobs on an
:class:`~btfkit.fleet.engine.Engine` and writes each tarball (atomically: never
half a file) and the index as results come back.  A rerun skips every kernel
whose tarball is in the index and whole (its sha256 matches).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import BTFError, ELFError
from ..format.elf import unwrap
from ..format.writer import write_atomic
from .kernel import (
    ARCHIVE_SUFFIX,
    Kernel,
    btf_of,
    find_trees,
    module_btf,
    module_name,
    read_file,
    tree_modules,
)
from .kernel import constant as _constant
from .packages import kernel_files, read_control

INDEX = "index.json"
#: Debian architecture names -> BTFHub's.
_DEBIAN_ARCHES = {"amd64": "x86_64", "arm64": "arm64", "i386": "x86", "armhf": "arm", "ppc64el": "ppc64le",
                  "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip
#: ELF e_machine -> BTFHub's architecture name.
_ELF_MACHINES = {62: "x86_64", 183: "arm64", 3: "x86", 40: "arm", 21: "ppc64le", 22: "s390x", 243: "riscv64"}
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass(frozen=True)
class Job:
    """One kernel to archive: where its files are, and where its tarball goes."""

    source: str  # a .deb, or a directory (see find_trees)
    release: str
    distro: str
    version: str
    arch: str

    @property
    def path(self) -> str:
        """The tarball's path inside the archive directory."""
        return f"{self.distro}/{self.version}/{self.arch}/{self.release}{ARCHIVE_SUFFIX}"


def _release_of_package(package: str) -> str:
    release = package.removeprefix("linux-image-")
    for suffix in ("-unsigned", "-dbg"):
        release = release.removesuffix(suffix)
    return release


def _os_release(root: Path) -> tuple[str | None, str | None]:
    try:
        text = (root / "etc/os-release").read_text()
    except OSError:
        return None, None
    fields = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', text, re.M))
    return fields.get("ID"), fields.get("VERSION_ID")


def _arch_of_image(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(0x210)
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
        return _ELF_MACHINES.get(machine, f"machine{machine}")
    if head[0x202:0x206] == b"HdrS":  # an x86 bzImage
        return "x86_64"
    return "unknown"


def plan(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    distro: str | None = None,
    version: str | None = None,
    arch: str | None = None,
) -> list[Job]:
    """One :class:`Job` per kernel found in ``inputs`` (packages and directories).

    The distribution, its version and the architecture come from the package
    (``deb12`` in the version gives Debian 12) or the tree's ``etc/os-release``
    and kernel image, unless given.  ``-dbg`` packages are not archived on their
    own (their ``.BTF`` is the image's).
    """
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found_distro, found_version = _os_release(p)
            jobs += [
                Job(
                    str(p),
                    tree.release,
                    distro or found_distro or "unknown",
                    version or found_version or "unknown",
                    arch or _arch_of_image(tree.vmlinux),
                )
                for tree in find_trees(p)
            ]
            continue
        if not p.name.endswith(".deb"):
            raise BTFError(f"{p}: not a .deb package or a directory")
        fields = read_control(read_file(p), str(p))
        package = fields.get("Package", "")
        if not package.startswith("linux-image-"):
            raise BTFError(f"{p}: package {package!r} is not a kernel image (linux-image-*)")
        if package.endswith("-dbg"):
            raise BTFError(f"{p}: a -dbg package carries DWARF, not the kernel's BTF: archive the image package")
        deb_version = re.search(r"deb(\d+)", fields.get("Version", ""))
        jobs.append(
            Job(
                str(p),
                _release_of_package(package),
                distro or "debian",
                version or (deb_version.group(1) if deb_version else "unknown"),
                arch or _DEBIAN_ARCHES.get(fields.get("Architecture", ""), fields.get("Architecture", "unknown")),
            )
        )
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.path in seen:
            raise BTFError(f"{job.source} and {seen[job.path].source} are both {job.path}")
        seen[job.path] = job
    return jobs


def _modules_btf(modules: dict[str, tuple[str, bytes | Path]]) -> dict[str, bytes | None]:
    """Each module's ``.BTF`` (``None``: it has none), from its file's contents or path, by name.

    Inflating a thousand ``.ko.xz`` is most of an archive's work; lzma and zstd let go
    of the GIL, so threads spread it over the CPUs.
    """

    def one(item: tuple[str, bytes | Path]) -> bytes | None:
        label, data = item
        return module_btf(read_file(data) if isinstance(data, Path) else data, label)

    with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        found = list(pool.map(one, modules.values()))
    return dict(sorted(zip(modules, found, strict=True)))


def _gather(job: Job) -> tuple[bytes, dict[str, bytes | None]]:
    """The vmlinux BTF and each module's (``None``: the module has none) of one kernel."""
    source = Path(job.source)
    if source.is_dir():
        (tree,) = [t for t in find_trees(source) if t.release == job.release]
        files = tree_modules(tree.modules_dir)
        vmlinux = btf_of(read_file(tree.vmlinux), str(tree.vmlinux))
        return vmlinux, _modules_btf({name: (str(path), path) for name, path in files.items()})
    images: list[bytes] = []
    packed: dict[str, tuple[str, bytes | Path]] = {}
    modules_prefix = f"lib/modules/{job.release}/"
    image_path = f"boot/vmlinuz-{job.release}"

    def want(path: str) -> bool:
        return path == image_path or (path.startswith(modules_prefix) and module_name(path) is not None)

    def take(path: str, data: bytes) -> None:
        if path == image_path:
            images.append(data)
        else:
            packed.setdefault(module_name(path) or path, (f"{job.source}:{path}", data))

    kernel_files(read_file(source), job.source, want, take)
    if not images:
        raise ELFError(f"{job.source}: no {image_path}")
    return btf_of(bytes(unwrap(images[0], image_path)), f"{job.source}:{image_path}"), _modules_btf(packed)


def open_package(path: str | os.PathLike[str]) -> Kernel:
    """The kernel in an image package (``.deb``), as :func:`~btfkit.fleet.kernel.open_kernel` gives others."""
    (job,) = plan([path])
    vmlinux, modules = _gather(job)
    return Kernel(str(path), job.release, lambda: vmlinux, {n: _constant(b) for n, b in modules.items()})


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    """A deterministic .tar.xz: fixed times, owners and modes, members in the given order.

    xz preset 1: a fifth of the default's (6) time, for a tarball a quarter larger
    (3.5 MB instead of 2.8 MB for a cloud kernel with its thousand modules).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", format=tarfile.GNU_FORMAT, preset=1) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(job: Job) -> tuple[dict[str, Any], bytes]:
    """One kernel's tarball and its index entry (the same bytes wherever and whenever it runs)."""
    vmlinux, modules = _gather(job)
    members = [(f"{job.release}.btf", vmlinux)]
    members += [(f"{job.release}/modules/{name}.btf", data) for name, data in modules.items() if data is not None]
    tarball = _tar(members)
    entry = {
        **asdict(job),
        "path": job.path,
        "size": len(tarball),
        "sha256": hashlib.sha256(tarball).hexdigest(),
        "vmlinux": members[0][0],
        "modules": [name for name, data in modules.items() if data is not None],
        "modules_without_btf": [name for name, data in modules.items() if data is None],
        "members": {name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in members},
    }
    return entry, tarball


def read_index(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The archive's index (``{"kernels": {path: entry}}``; empty for a new archive)."""
    path = Path(out_dir) / INDEX
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        return {"kernels": {}}
    except (OSError, ValueError) as exc:
        raise BTFError(f"{path}: unreadable archive index: {exc}") from exc
    if not isinstance(index, dict) or not isinstance(index.get("kernels"), dict):
        raise BTFError(f"{path}: not an archive index")
    return index


def _whole(out_dir: Path, entry: dict[str, Any]) -> bool:
    try:
        data = (out_dir / entry["path"]).read_bytes()
    except OSError:
        return False
    return len(data) == entry.get("size") and hashlib.sha256(data).hexdigest() == entry.get("sha256")


def _write_index(out_dir: Path, index: dict[str, Any]) -> None:
    index["kernels"] = dict(sorted(index["kernels"].items()))
    write_atomic(out_dir / INDEX, (json.dumps(index, indent=1) + "\n").encode())


def pending(jobs: Iterable[Job], out_dir: str | os.PathLike[str]) -> list[Job]:
    """The jobs whose tarball is not yet in the archive, whole."""
    out, index = Path(out_dir), read_index(out_dir)
    return [j for j in jobs if not (j.path in index["kernels"] and _whole(out, index["kernels"][j.path]))]


def archive(
    jobs: list[Job],
    out_dir: str | os.PathLike[str],
    run: Callable[[Callable[[Job], tuple[dict[str, Any], bytes]], list[Job]], Iterable[tuple[dict[str, Any], bytes]]],
) -> dict[str, Any]:
    """Archive ``jobs`` into ``out_dir``; returns the index.

    ``run(build, jobs)`` runs :func:`build` on each job (anywhere: a process pool, a
    cluster) and yields the results as they come; each tarball is written as it
    arrives, then the index with its entry, so an interruption loses only the
    kernels still in flight.  Jobs already archived whole are skipped.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = read_index(out)
    todo = pending(jobs, out)
    for job in todo:  # what an interrupted run left: its temporary files, never a tarball
        target = out / job.path
        for stale in target.parent.glob(f".{target.name}.*.tmp") if target.parent.is_dir() else ():
            stale.unlink(missing_ok=True)
    for entry, tarball in run(build, todo):
        target = out / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, tarball)
        os.chmod(target, 0o644 & ~_UMASK)  # an archive is for others to read
        index["kernels"][entry["path"]] = entry
        _write_index(out, index)
        os.chmod(out / INDEX, 0o644 & ~_UMASK)
    if not (out / INDEX).exists():
        _write_index(out, index)
    return index
