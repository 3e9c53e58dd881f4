"""A split BTF read on the wrong base is refused, saying so; a module finds its own kernel's base.

Oracles: the corpus (Debian's current 6.1 cloud kernel: every module with its own vmlinux
must fit) and a Debian 6.12 cloud kernel from the archive (its modules on the 6.1 vmlinux
and the 6.1 modules on its vmlinux must not); ``modinfo -F vermagic`` (kmod) for a module's
release, the package's file names for a kernel image's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import btfkit
from btfkit.errors import BaseMismatchError
from btfkit.format import kernelinfo
from btfkit.format.kernelinfo import base_release, find_module_base, module_release

from . import debian_kernels
from .conftest import SYS_VMLINUX, Corpus, tool

BTFKIT = [sys.executable, "-m", "btfkit"]


def _btfkit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BTFKIT, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def other() -> debian_kernels.KernelImage:
    """A 6.12 cloud kernel: another kernel than the corpus's, with a larger string table."""
    return debian_kernels.image(debian_kernels.releases("6.12")[-1])


def _module(root: Path, name: str) -> Path:
    (path,) = [p for p in root.rglob(f"{name}.ko*") if p.is_file()]
    return path


def test_every_corpus_module_fits_its_own_base(corpus: Corpus) -> None:
    """No false alarm: each of the ~1,100 modules loads on its own vmlinux."""
    for path in corpus.modules:
        btfkit.load(path, corpus.base)


@pytest.mark.parametrize("direction", ["6.1 module on the 6.12 base", "6.12 module on the 6.1 base"])
def test_another_kernels_base_is_refused(direction: str, corpus: Corpus, other: debian_kernels.KernelImage,
                                         tmp_path: Path) -> None:  # fmt: skip
    other_base = btfkit.load(other.vmlinux)
    assert len(other_base.strings) > len(corpus.base.strings)  # the case that used to print garbage
    if direction.startswith("6.1 "):
        module, own, wrong, wrong_path = corpus.root / "modules/drivers/net/dummy.ko", corpus.base, other_base, other.vmlinux
    else:
        module, own, wrong, wrong_path = _module(other.root, "dummy"), other_base, corpus.base, corpus.vmlinux
    with pytest.raises(BaseMismatchError, match="the base does not fit"):
        btfkit.load(module, wrong)
    # The same split as a raw file (nothing in it names its base) is refused the same way.
    raw = tmp_path / "dummy.btf"
    btfkit.write(btfkit.load(module, own), raw)
    with pytest.raises(BaseMismatchError):
        btfkit.load(raw, wrong)
    r = _btfkit("dump", raw, "-B", wrong_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(f"btfkit: error: {raw} on base {wrong_path}: the base does not fit")
    assert r.stderr.count("\n") == 1
    # A module says which kernel it was built for: btfkit warns before refusing.
    r = _btfkit("info", module, "-B", wrong_path)
    assert r.returncode == 1
    assert f"built for kernel {module_release(module.read_bytes(), str(module))}, but the base {wrong_path}" in r.stderr


def test_releases_match_modinfo_and_package_names(corpus: Corpus, other: debian_kernels.KernelImage,
                                                  tmp_path: Path) -> None:  # fmt: skip
    modinfo = tool("modinfo")
    for module in [*corpus.modules[::200], _module(other.root, "dummy")]:
        vermagic = subprocess.run([modinfo, "-F", "vermagic", str(module)], capture_output=True, text=True,
                                  check=True).stdout.split()[0]  # fmt: skip
        assert module_release(module.read_bytes(), str(module)) == vermagic
    assert base_release(str(corpus.vmlinux)) == corpus.release
    assert base_release(str(corpus.vmlinuz)) == corpus.release
    assert base_release(str(other.vmlinuz)) == other.release  # named vmlinuz-<release> by the package
    assert base_release(str(other.vmlinux)) == other.release
    assert base_release(SYS_VMLINUX) == os.uname().release
    btfkit.write(corpus.base, tmp_path / "vmlinux.btf")
    assert base_release(str(tmp_path / "vmlinux.btf")) is None  # raw BTF records no release


def test_module_without_base_uses_its_own_kernel(corpus: Corpus, other: debian_kernels.KernelImage,
                                                 tmp_path: Path) -> None:  # fmt: skip
    # In an unpacked kernel package: that package's kernel, said on stderr.
    module = _module(other.root, "dummy")
    r = _btfkit("dump", module)
    assert r.returncode == 0, r.stderr
    assert f"base {other.root / 'vmlinux'} (the module's kernel, {other.release})" in r.stderr
    assert r.stdout == _btfkit("dump", module, "-B", other.vmlinux).stdout
    # Alone in a directory, built for a kernel this machine does not run: an error naming -B.
    alone = tmp_path / "dummy.ko"
    shutil.copy(corpus.root / "modules/drivers/net/dummy.ko", alone)
    r = _btfkit("info", alone)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "no base found" in r.stderr and "-B" in r.stderr and f"/boot/vmlinuz-{corpus.release}" in r.stderr


def test_module_of_the_running_kernel_uses_sysfs(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a module built for the running kernel is read on /sys/kernel/btf/vmlinux.  (This
    machine runs no Debian kernel, so the running release is stood in for.)"""
    module = corpus.root / "modules/drivers/net/dummy.ko"
    data = module.read_bytes()
    assert find_module_base(str(module), data).path != kernelinfo.SYS_VMLINUX
    monkeypatch.setattr(kernelinfo, "running_release", lambda: corpus.release)
    assert find_module_base(str(module), data).path == kernelinfo.SYS_VMLINUX
