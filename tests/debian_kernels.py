"""Debian kernel packages on demand: which releases the archive holds, each unpacked in a cache.

The archive carries several releases of a kernel line at once and moves every few weeks,
so tests never name a release: they ask :func:`releases` (from ``apt-cache``) and take the
oldest or newest.  Packages are fetched with ``apt-get download`` into
``$BTFKIT_CORPUS/debs`` and unpacked once into ``$BTFKIT_CORPUS/<package>-<version>/``
(concurrent pytest-xdist workers wait on a file lock):

- :func:`image`: ``linux-image-<release>-unsigned`` (or the plain image): ``vmlinuz``, the
  ``vmlinux`` ELF unpacked from it by the real decompressor (independent of btfkit's own
  bzImage reader), ``config`` and every module;
- :func:`debug`: ``linux-image-<release>-dbg``: the DWARF ``vmlinux``, ``System.map`` and
  the unstripped modules.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from .conftest import require


def cache_root() -> Path:
    """Where downloads and unpacked packages live (outside the repository)."""
    return Path(os.environ.get("BTFKIT_CORPUS", Path.home() / ".cache/btfkit"))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


@cache
def releases(line: str, flavour: str = "cloud-amd64") -> list[str]:
    """Kernel releases of ``line`` (e.g. "6.12") and ``flavour`` in the archive, oldest first.

    A release is what ``uname -r`` prints on that kernel (``<version>-<flavour>``).  Only
    releases whose image is in the archive count.
    """
    pattern = rf"^linux-image-{re.escape(line)}[.-].*-{re.escape(flavour)}(-unsigned)?$"
    out = subprocess.run(
        ["apt-cache", "search", "--names-only", pattern], capture_output=True, text=True, check=False
    )
    found = set()
    for row in out.stdout.splitlines():
        name = row.split(" ", 1)[0]
        found.add(name.removeprefix("linux-image-").removesuffix("-unsigned"))
    require(bool(found), f"apt-cache knows no linux-image-{line}*-{flavour} (run apt-get update)")
    return sorted(found, key=_version_key)


def _lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _download(package: str) -> Path:
    debs = cache_root() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    have = sorted(debs.glob(f"{package}_*.deb"))
    if have:
        return have[-1]
    done = subprocess.run(
        ["apt-get", "download", package], cwd=debs, capture_output=True, text=True, check=False
    )
    have = sorted(debs.glob(f"{package}_*.deb"))
    require(done.returncode == 0 and bool(have), f"apt-get download {package} failed: {done.stderr.strip()}")
    return have[-1]


def unpacked(package: str) -> Path:
    """The package's files under a directory of its own, unpacked once."""
    deb = _download(package)
    dest = cache_root() / deb.stem
    fd = _lock(cache_root() / f".{deb.stem}.lock")
    try:
        if not (dest / ".complete").exists():
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
            (dest / ".complete").touch()
    finally:
        os.close(fd)
    return dest


# Magic numbers of the compressed payloads Debian's bzImages carry, and the tool that inflates each.
_DECOMPRESSORS = {b"\x28\xb5\x2f\xfd": "zstd", b"\x02\x21\x4c\x18": "lz4", b"\xfd7zXZ": "xz", b"\x1f\x8b": "gzip"}


def _extract_vmlinux(vmlinuz: Path, out: Path) -> None:
    data = vmlinuz.read_bytes()
    setup_sectors = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sectors + 1) * 512 + payload_offset
    payload = data[start : start + payload_length]
    tool = next((t for magic, t in _DECOMPRESSORS.items() if payload.startswith(magic)), None)
    require(tool is not None, f"{vmlinuz}: unknown bzImage payload {payload[:4].hex()}")
    with open(out, "wb") as f:
        # Trailing bytes after the stream (the appended size) make some tools complain; the output is whole.
        subprocess.run([str(tool), "-dc"], input=payload, stdout=f, stderr=subprocess.DEVNULL, check=False)
    require(out.read_bytes()[:4] == b"\x7fELF", f"could not unpack the vmlinux of {vmlinuz}")


@dataclass(frozen=True)
class KernelImage:
    """An unpacked ``linux-image-<release>`` package."""

    release: str
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def config(self) -> Path:
        return self.root / "boot" / f"config-{self.release}"

    @property
    def modules_dir(self) -> Path:
        return self.root / "lib" / "modules" / self.release / "kernel"

    @cached_property
    def modules(self) -> list[Path]:
        """Every module file (``.ko``, ``.ko.xz``, ...), sorted."""
        return sorted(p for p in self.modules_dir.rglob("*.ko*") if p.is_file())

    @cached_property
    def vmlinux(self) -> Path:
        """The ELF vmlinux inside the bzImage (with its ``.BTF`` section)."""
        out = self.root / "vmlinux"
        fd = _lock(self.root.parent / f".{self.root.name}.vmlinux.lock")
        try:
            if not out.exists():
                _extract_vmlinux(self.vmlinuz, out.with_suffix(".part"))
                out.with_suffix(".part").rename(out)
        finally:
            os.close(fd)
        return out


@dataclass(frozen=True)
class DebugPackage:
    """An unpacked ``linux-image-<release>-dbg`` package: DWARF for the kernel and its modules."""

    release: str
    root: Path

    @property
    def vmlinux(self) -> Path:
        return self.root / "usr/lib/debug/boot" / f"vmlinux-{self.release}"

    @property
    def system_map(self) -> Path:
        return self.root / "usr/lib/debug/boot" / f"System.map-{self.release}"

    @property
    def modules_dir(self) -> Path:
        return self.root / "usr/lib/debug/lib/modules" / self.release / "kernel"


def image(release: str) -> KernelImage:
    """The image package of ``release``, downloaded and unpacked (the unsigned one where it exists)."""
    for package in (f"linux-image-{release}-unsigned", f"linux-image-{release}"):
        probe = subprocess.run(["apt-cache", "show", package], capture_output=True, check=False)
        if probe.returncode == 0 and probe.stdout:
            return KernelImage(release, unpacked(package))
    require(False, f"no image package for {release} in the archive")
    raise AssertionError  # unreachable: require fails or skips


def debug(release: str) -> DebugPackage:
    """The ``-dbg`` package of ``release`` (a few hundred MB), downloaded and unpacked."""
    return DebugPackage(release, unpacked(f"linux-image-{release}-dbg"))


def debug_deb(release: str) -> Path:
    """The ``-dbg`` package file (``.deb``) of ``release``, downloaded."""
    return _download(f"linux-image-{release}-dbg")


def image_deb(release: str) -> Path:
    """The image package file (``.deb``) of ``release``, downloaded (the unsigned one where it exists)."""
    for package in (f"linux-image-{release}-unsigned", f"linux-image-{release}"):
        probe = subprocess.run(["apt-cache", "show", package], capture_output=True, check=False)
        if probe.returncode == 0 and probe.stdout:
            return _download(package)
    require(False, f"no image package for {release} in the archive")
    raise AssertionError  # unreachable: require fails or skips
