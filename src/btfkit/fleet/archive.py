"""An archive of kernel BTF in BTFHub's layout, with every module's split BTF.

``DIR/<distro>/<version>/<arch>/<release>.btf.tar.xz`` holds, as BTFHub's do,
``<release>.btf`` (the vmlinux BTF, byte for byte the kernel's ``.BTF``), and
beyond BTFHub ``<release>/modules/<name>.btf`` for every module: its ``.BTF``
exactly as the ``.ko`` carries it (split BTF over that vmlinux).  ``DIR/index.json``
lists every kernel archived: release, where its tarball is, its size and sha256,
and each member's size and sha256.

Inputs are Debian kernel packages (``linux-image-*.deb``, ``-unsigned``, ``-dbg``), read
without unpacking them, and directories: unpacked packages, root file systems,
``/lib/modules/<release>`` trees.

A kernel whose image carries no ``.BTF`` gets its BTF from the DWARF of its ``-dbg``
package (given beside the image, paired by release, or alone): the vmlinux BTF is
encoded from the ``-dbg`` vmlinux with the flags of Debian 12's kernel builds (pahole
1.24: ``--btf_gen_floats``), then every module's split BTF from the ``-dbg`` module
over it, the modules in batches spread over the engine's workers.  :func:`plan` turns inputs into :class:`Job`\\ s,
one per kernel; :func:`build` makes one kernel's tarball (a pure function of its
input: the same bytes wherever it runs); :func:`archive` runs the jobs on an
:class:`~btfkit.fleet.engine.Engine` and writes each tarball (atomically: never
half a file) and the index as results come back.  A rerun skips every kernel
whose tarball is in the index and whole (its sha256 matches).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..cpus import available_cpus
from ..errors import BTFError, ELFError
from ..format.btf import BTF
from ..format.elf import unwrap
from ..format.reader import parse
from ..format.writer import to_bytes, write_atomic
from ..sources.encode import encode
from ..transforms.dedup import BaseIndex
from .kernel import (
    ARCHIVE_SUFFIX,
    Kernel,
    find_trees,
    module_btf,
    module_name,
    read_file,
    tree_modules,
)
from .kernel import constant as _constant
from .packages import debian_release, kernel_files, read_control

INDEX = "index.json"
#: Where a -dbg package puts the vmlinux with DWARF, and its modules.
_DEBUG_BOOT = "usr/lib/debug/boot"
_DEBUG_MODULES = "usr/lib/debug/lib/modules"
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
    #: The kernel's -dbg package or unpacked tree (its DWARF), when given: used if the image has no BTF.
    debug: str | None = None

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


def _is_debug_tree(tree_vmlinux: Path) -> bool:
    return _DEBUG_BOOT in tree_vmlinux.as_posix()


def plan(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    distro: str | None = None,
    version: str | None = None,
    arch: str | None = None,
) -> list[Job]:
    """One :class:`Job` per kernel found in ``inputs`` (packages and directories).

    The distribution, its version and the architecture come from the package
    (``deb12`` in the version gives Debian 12; without one, as in a Debian release's
    own kernel, the distribution its changelog names) or the tree's ``etc/os-release``
    and kernel image, unless given.  A ``-dbg`` package (or unpacked tree) given
    beside its kernel's image (the same release) goes with it, for the image's
    lack of BTF; alone, it is its kernel.
    """
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found_distro, found_version = _os_release(p)
            for tree in find_trees(p):
                debug = _is_debug_tree(tree.vmlinux) or (p / _DEBUG_BOOT / f"vmlinux-{tree.release}").is_file()
                jobs.append(
                    Job(
                        str(p),
                        tree.release,
                        distro or found_distro or "unknown",
                        version or found_version or "unknown",
                        arch or _arch_of_image(tree.vmlinux),
                        str(p) if debug else None,
                    )
                )
            continue
        if not p.name.endswith(".deb"):
            raise BTFError(f"{p}: not a .deb package or a directory")
        fields = read_control(read_file(p), str(p))
        package = fields.get("Package", "")
        if not package.startswith("linux-image-"):
            raise BTFError(f"{p}: package {package!r} is not a kernel image (linux-image-*)")
        deb_version = re.search(r"deb(\d+)", fields.get("Version", ""))
        jobs.append(
            Job(
                str(p),
                _release_of_package(package),
                distro or "debian",
                version or (deb_version.group(1) if deb_version else "unknown"),
                arch or _DEBIAN_ARCHES.get(fields.get("Architecture", ""), fields.get("Architecture", "unknown")),
                str(p) if package.endswith("-dbg") else None,
            )
        )
    jobs = _pair_debug(jobs)
    if version is None:  # a Debian release's own kernel has no debNN in its version: ask its changelog
        jobs = [_with_changelog_release(j) if j.version == "unknown" else j for j in jobs]
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.path in seen:
            raise BTFError(f"{job.source} and {seen[job.path].source} are both {job.path}")
        seen[job.path] = job
    return jobs


def _pair_debug(jobs: list[Job]) -> list[Job]:
    """Each -dbg input (a job of its own: source and debug the same) joined to the image of its release."""
    alone = {j.release: j for j in jobs if j.debug is not None and j.debug == j.source}
    images = {j.release for j in jobs if j.debug != j.source}
    out = []
    for job in jobs:
        if job.debug is not None and job.debug == job.source and job.release in images:
            continue  # goes with its image
        paired = job.debug is None and job.release in alone
        out.append(dataclasses.replace(job, debug=alone[job.release].debug) if paired else job)
    return out


def _with_changelog_release(job: Job) -> Job:
    """``job`` with the Debian release its package's changelog names (as it is when none does)."""
    release = _changelog_release(job)
    if release is None:
        return job
    return dataclasses.replace(job, version=release, distro="debian" if job.distro == "unknown" else job.distro)


def _changelog_release(job: Job) -> str | None:
    """The Debian release number in the changelog of the job's package (a ``.deb`` or an unpacked tree)."""
    source = Path(job.source)
    if source.is_dir():
        found = sorted(source.glob("usr/share/doc/linux-image-*/changelog.Debian.gz"))
        return debian_release(found[0].read_bytes()) if found else None
    data = read_file(source)
    wanted = f"usr/share/doc/{read_control(data, job.source).get('Package', '')}/changelog.Debian.gz"
    changelog: list[bytes] = []
    # (The changelog comes last in a kernel package: this inflates the whole data archive.)
    kernel_files(data, job.source, lambda path: path == wanted, lambda _path, contents: changelog.append(contents))
    return debian_release(changelog[0]) if changelog else None


def _modules_btf(modules: dict[str, tuple[str, bytes | Path]]) -> dict[str, bytes | None]:
    """Each module's ``.BTF`` (``None``: it has none), from its file's contents or path, by name.

    Inflating a thousand ``.ko.xz`` is most of an archive's work; lzma and zstd let go
    of the GIL, so threads spread it over the CPUs.
    """

    def one(item: tuple[str, bytes | Path]) -> bytes | None:
        label, data = item
        return module_btf(read_file(data) if isinstance(data, Path) else data, label)

    with ThreadPoolExecutor(available_cpus()) as pool:
        found = list(pool.map(one, modules.values()))
    return dict(sorted(zip(modules, found, strict=True)))


@dataclass
class _Files:
    """A kernel's image and module files as one input holds them (contents, or paths in a tree)."""

    image: tuple[str, bytes | Path] | None  # (label, contents or path)
    modules: dict[str, tuple[str, bytes | Path]]  # the modules read: name -> (label, contents or path)
    names: list[str]  # every module the input has


def _contents(data: bytes | Path) -> bytes:
    return read_file(data) if isinstance(data, Path) else data


def _files(source: str, release: str, *, debug: bool, image: bool, read: Callable[[str], bool]) -> _Files:
    """The image (if ``image``) and the modules ``read`` accepts (by name) of ``release`` in ``source``.

    ``debug``: the -dbg layout first (``usr/lib/debug/boot/vmlinux-<release>``, its modules under
    ``usr/lib/debug/lib/modules/<release>``), for an input holding both an image and its -dbg.
    """
    p = Path(source)
    if p.is_dir():
        vmlinux, modules_dir = p / _DEBUG_BOOT / f"vmlinux-{release}", p / _DEBUG_MODULES / release
        if not (debug and vmlinux.is_file()):
            (tree,) = [t for t in find_trees(p) if t.release == release]
            vmlinux, modules_dir = tree.vmlinux, tree.modules_dir  # type: ignore[assignment]
        found = tree_modules(modules_dir)
        return _Files((str(vmlinux), vmlinux) if image else None,
                      {n: (str(f), f) for n, f in found.items() if read(n)}, list(found))  # fmt: skip
    images: dict[str, bytes] = {}
    packed: dict[str, tuple[str, bytes | Path]] = {}
    names: list[str] = []
    image_paths = (f"boot/vmlinuz-{release}", f"{_DEBUG_BOOT}/vmlinux-{release}")
    prefixes = (f"lib/modules/{release}/", f"{_DEBUG_MODULES}/{release}/")

    def want(path: str) -> bool:
        if path in image_paths:
            return image
        name = module_name(path) if path.startswith(prefixes) else None
        if name is None:
            return False
        names.append(name)
        return read(name)

    def take(path: str, data: bytes) -> None:
        if path in image_paths:
            images[path] = data
        else:
            packed.setdefault(module_name(path) or path, (f"{source}:{path}", data))

    kernel_files(read_file(p), source, want, take)
    if image and not images:
        raise ELFError(f"{source}: no {' or '.join(image_paths)}")
    # An image package's compressed image, else a -dbg package's vmlinux.
    first = next((path for path in image_paths if path in images), None)
    return _Files((f"{source}:{first}", images[first]) if first else None, packed, sorted(set(names)))


@dataclass(frozen=True)
class DwarfWork:
    """A kernel whose vmlinux BTF was encoded from DWARF, and whose modules are still to encode."""

    job: Job
    vmlinux: bytes  # raw BTF
    modules: tuple[str, ...]  # the -dbg modules, to encode over it
    without_dwarf: tuple[str, ...]  # the image's modules the -dbg package lacks


@dataclass(frozen=True)
class ModuleBatch:
    """Some modules of one kernel to encode from DWARF over its vmlinux BTF (a unit of work)."""

    job: Job
    vmlinux: bytes
    names: tuple[str, ...]


def build(job: Job) -> tuple[dict[str, Any], bytes] | DwarfWork:
    """One kernel's tarball and its index entry (the same bytes wherever and whenever it runs).

    An image without ``.BTF`` whose -dbg package was given gets its vmlinux BTF encoded from
    DWARF here; its modules are then for :func:`encode_modules` (a :class:`DwarfWork`).
    """
    found = _gather(job)
    return found if isinstance(found, DwarfWork) else _finish(job, *found)


def _gather(job: Job) -> tuple[bytes, dict[str, bytes | None]] | DwarfWork:
    """The vmlinux BTF and each module's (``None``: none) of one kernel, or its DWARF work."""
    files = _files(job.source, job.release, debug=False, image=True, read=lambda _name: True)
    assert files.image is not None
    label, data = files.image
    # (module_btf: the section, or None when the ELF has none)
    vmlinux = module_btf(bytes(unwrap(_contents(data), label)), label)
    if vmlinux is not None:
        return vmlinux, _modules_btf(files.modules)
    if job.debug is None:
        raise ELFError(f"{label}: no .BTF section: give the kernel's -dbg package beside it (BTF from its DWARF)")
    dbg = files if job.debug == job.source else _files(job.debug, job.release, debug=True, image=True,
                                                       read=lambda _name: False)  # fmt: skip
    assert dbg.image is not None
    label, data = dbg.image
    btf = encode(bytes(unwrap(_contents(data), label)), gen_floats=DEBIAN_GEN_FLOATS, check_base=False, name=label)
    return DwarfWork(job, to_bytes(btf), tuple(dbg.names), tuple(sorted(set(files.names) - set(dbg.names))))


#: pahole 1.24's flags in Debian 12's kernel builds: --btf_gen_floats (scripts/pahole-flags.sh for 1.21+).
DEBIAN_GEN_FLOATS = True


@lru_cache(maxsize=1)
def _base(vmlinux: bytes) -> tuple[BTF, BaseIndex]:
    """The vmlinux BTF and its dedup index, made once per worker for all of a kernel's batches."""
    btf = parse(vmlinux)
    return btf, BaseIndex(btf)


def encode_modules(batch: ModuleBatch) -> tuple[ModuleBatch, dict[str, bytes | None]]:
    """Each module's split BTF, encoded from its -dbg DWARF over the vmlinux BTF (``None``: no DWARF)."""
    base, index = _base(batch.vmlinux)
    wanted = set(batch.names)
    assert batch.job.debug is not None
    files = _files(batch.job.debug, batch.job.release, debug=True, image=False, read=wanted.__contains__)
    out: dict[str, bytes | None] = {}
    for name in batch.names:
        label, data = files.modules[name]
        try:
            btf = encode(bytes(unwrap(_contents(data), label)), base, index=index, gen_floats=DEBIAN_GEN_FLOATS,
                         name=label)  # fmt: skip
        except ELFError as exc:
            if "no DWARF" not in str(exc):
                raise
            out[name] = None  # built without -g: no BTF, as the kernel build would give it none
            continue
        out[name] = to_bytes(btf)
    return batch, out


def _batches(work: DwarfWork, cpus: int) -> list[ModuleBatch]:
    """The modules in batches: of a few modules from a tree (cheap to open); from a package, one
    batch per CPU (each batch reads the package through once)."""
    names = work.modules
    assert work.job.debug is not None
    count = max(1, len(names) // _BATCH) if Path(work.job.debug).is_dir() else cpus
    count = min(count, max(len(names), 1))
    return [ModuleBatch(work.job, work.vmlinux, names[i::count]) for i in range(count) if names[i::count]]


_BATCH = 8


def _finish(
    job: Job, vmlinux: bytes, modules: dict[str, bytes | None], extra: dict[str, Any] | None = None
) -> tuple[dict[str, Any], bytes]:
    """The tarball and index entry of a kernel's vmlinux and module BTF."""
    modules = dict(sorted(modules.items()))
    members = [(f"{job.release}.btf", vmlinux)]
    members += [(f"{job.release}/modules/{name}.btf", data) for name, data in modules.items() if data is not None]
    tarball = _tar(members)
    entry = {
        **{k: v for k, v in asdict(job).items() if v is not None},
        "path": job.path,
        "size": len(tarball),
        "sha256": hashlib.sha256(tarball).hexdigest(),
        **(extra or {}),
        "vmlinux": members[0][0],
        "modules": [name for name, data in modules.items() if data is not None],
        "modules_without_btf": [name for name, data in modules.items() if data is None],
        "members": {name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in members},
    }
    return entry, tarball


def open_package(path: str | os.PathLike[str]) -> Kernel:
    """The kernel in an image package (``.deb``), as :func:`~btfkit.fleet.kernel.open_kernel` gives others."""
    (job,) = plan([path])
    found = _gather(job)
    if isinstance(found, DwarfWork):
        raise BTFError(f"{path}: the kernel's image carries no BTF")
    vmlinux, modules = found
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


#: ``run(fn, items)``: ``fn`` run on each item somewhere (a process pool, a cluster), the results
#: yielded as they come (see :func:`btfkit.fleet.engine.with_progress`).
Runner = Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]]


def archive(jobs: list[Job], out_dir: str | os.PathLike[str], run: Runner) -> dict[str, Any]:
    """Archive ``jobs`` into ``out_dir``; returns the index.

    ``run(build, jobs)`` runs :func:`build` on each job (anywhere: a process pool, a
    cluster) and yields the results as they come; each tarball is written as it
    arrives, then the index with its entry, so an interruption loses only the
    kernels still in flight.  Jobs already archived whole are skipped.  Kernels whose
    BTF comes from DWARF then have their modules encoded by ``run(encode_modules, batches)``,
    each tarball written when its last batch is in.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = read_index(out)
    todo = pending(jobs, out)
    for job in todo:  # what an interrupted run left: its temporary files, never a tarball
        target = out / job.path
        for stale in target.parent.glob(f".{target.name}.*.tmp") if target.parent.is_dir() else ():
            stale.unlink(missing_ok=True)

    def store(entry: dict[str, Any], tarball: bytes) -> None:
        target = out / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, tarball)
        os.chmod(target, 0o644 & ~_UMASK)  # an archive is for others to read
        index["kernels"][entry["path"]] = entry
        _write_index(out, index)
        os.chmod(out / INDEX, 0o644 & ~_UMASK)

    from_dwarf: list[DwarfWork] = []
    for result in run(build, todo):
        if isinstance(result, DwarfWork):
            from_dwarf.append(result)
        else:
            store(*result)
    if from_dwarf:
        _encode_all_modules(from_dwarf, run, store)
    if not (out / INDEX).exists():
        _write_index(out, index)
    return index


def _encode_all_modules(
    works: list[DwarfWork], run: Runner, store: Callable[[dict[str, Any], bytes], None]
) -> None:
    """Every module of the kernels in ``works``, encoded in batches on ``run``; each kernel stored when whole."""
    cpus = available_cpus()
    batches = [b for w in works for b in _batches(w, cpus)]
    left = {w.job: sum(b.job == w.job for b in batches) for w in works}
    done: dict[Job, dict[str, bytes | None]] = {w.job: dict.fromkeys(w.without_dwarf) for w in works}
    by_job = {w.job: w for w in works}
    extra = {"btf_from": "dwarf", "encoder": "btfkit encode --btf_gen_floats (pahole 1.24's flags)"}
    for job in [j for j, n in left.items() if n == 0]:  # a kernel without modules
        store(*_finish(job, by_job[job].vmlinux, done[job], extra))
    for batch, modules in run(encode_modules, batches):
        done[batch.job].update(modules)
        left[batch.job] -= 1
        if left[batch.job] == 0:
            store(*_finish(batch.job, by_job[batch.job].vmlinux, done.pop(batch.job), extra))
