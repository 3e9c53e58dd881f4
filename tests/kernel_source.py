"""The kernel source Debian ships (``linux-source-6.12``): libbpf 1.5, its bpftool and the BPF selftests.

Newer oracles than Debian 12's own libbpf 1.1.2 and bpftool 7.1, built from one source
tree in test setup and cached outside the repository
(``$BTFKIT_CORPUS/linux-source-<package version>/``):

- :func:`libbpf_path`: ``libbpf.so.1.5.x`` from ``tools/lib/bpf`` (distill, relocate, CO-RE);
- :func:`bpftool_path`: ``tools/bpf/bpftool`` linked against that libbpf;
- :func:`tree`: the unpacked parts of the tree (selftests' ``progs/`` and ``prog_tests/``,
  libbpf's headers).

The package version is read from dpkg at run time, so a new upload of the package gives
a new cache directory; nothing here names a kernel release.  Builds are serialised with a
file lock, since pytest-xdist workers may ask at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tarfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from .conftest import require

PACKAGE = "linux-source-6.12"
# Only what the two builds and the tests read: the whole tree is 1.5 GB unpacked.
_MEMBERS = (
    "tools/lib/bpf/",
    "tools/lib/subcmd/",
    "tools/include/",
    "tools/scripts/",
    "tools/build/",
    "tools/arch/",
    "tools/bpf/",
    "tools/perf/perf-sys.h",
    "tools/testing/selftests/bpf/",
    "kernel/bpf/disasm.",
    "scripts/bpf_doc.py",
    "include/uapi/linux/bpf.h",
)


def _cache_root() -> Path:
    return Path(os.environ.get("BTFKIT_CORPUS", Path.home() / ".cache/btfkit"))


@cache
def _version() -> str | None:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status} ${Version}", PACKAGE], check=False, capture_output=True, text=True
    )
    status, _, version = out.stdout.rpartition(" ")
    return version if out.returncode == 0 and status.endswith("installed") else None


def _tarball() -> Path:
    version = _version()
    path = Path(f"/usr/src/{PACKAGE}.tar.xz")
    require(version is not None and path.exists(), f"{PACKAGE} is not installed (scripts/setup installs it)")
    return path


def _locked_build(stamp: Path, build: Callable[[], None]) -> None:
    stamp.parent.mkdir(parents=True, exist_ok=True)
    with open(stamp.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            build()
            stamp.touch()


@cache
def tree() -> Path:
    """The unpacked parts of the kernel source tree (``.../linux-source-6.12``)."""
    tarball = _tarball()
    dest = _cache_root() / f"{PACKAGE}-{_version()}"
    top = dest / PACKAGE

    def unpack() -> None:
        with tarfile.open(tarball) as tar:
            wanted = [
                m for m in tar if m.name.partition("/")[2].startswith(_MEMBERS)
            ]
            tar.extractall(dest, members=wanted)  # the tarball is Debian's own

    _locked_build(dest / ".unpacked", unpack)
    return top


def _make(directory: Path, output: Path, log: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        done = subprocess.run(
            ["make", f"-j{os.cpu_count() or 1}", f"OUTPUT={output}/"],
            check=False, cwd=directory, stdout=f, stderr=subprocess.STDOUT,
        )
    require(done.returncode == 0, f"building {directory.name} failed: see {log}")


@cache
def libbpf_path() -> Path:
    """``libbpf.so`` 1.5 built from the tree (for ctypes; tests only)."""
    top = tree()
    out = top.parent / "libbpf"
    _locked_build(out / ".built", lambda: _make(top / "tools/lib/bpf", out, out.parent / "libbpf.log"))
    (so,) = sorted(out.glob("libbpf.so.1.*.*"))
    return so


@cache
def bpftool_path() -> Path:
    """bpftool built from the same tree, on its libbpf 1.5 (reads ``.BTF.base``)."""
    top = tree()
    out = top.parent / "bpftool"
    _locked_build(out / ".built", lambda: _make(top / "tools/bpf/bpftool", out, out.parent / "bpftool.log"))
    return out / "bpftool"
