"""bpf_testmod, the BPF selftests' kernel module, and ``test_core_reloc_module.c``, the CO-RE program on its types.

``core_reloc.c``'s ``module_probed`` and ``module_direct`` rows resolve that program
against the running kernel with bpf_testmod loaded.  Here the kernel is Debian's 6.12
cloud kernel (the release ``linux-headers-6.12-cloud-amd64`` depends on, read from dpkg
at run time), and the module is built from the linux-source tree out of tree against
those headers; :func:`testmod` caches, under ``$BTFKIT_CORPUS/core-selftests/testmod-<hash
of the inputs>/``:

- ``bpf_testmod.ko`` as kbuild links it, without a ``.BTF`` section: Debian's 6.12 headers
  ship a BTF-only ``vmlinux``, so kbuild runs pahole itself; that section is removed, and
  the tests give the module btfkit's own (:func:`with_btfkit_btf`);
- ``pahole.btf``: the oracle's split BTF of the module, ``pahole -J --btf_base`` over the
  vmlinux of the same release's image package (on a copy: pahole writes to its input);
- ``test_core_reloc_module.bpf.o``: the program compiled with clang-19 as the other
  selftests are, on a ``vmlinux.h`` that bpftool 7.1 dumps from that vmlinux.  The
  selftests' ``vmlinux.h`` has the kernel's types only: the program declares
  bpf_testmod's ``struct bpf_testmod_test_read_ctx`` itself, its fields in another order,
  and its relocations must find the module's.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from btfkit.format.reader import load
from btfkit.sources.encode import encode, write_section

from . import debian_kernels
from .conftest import require, tool
from .core_selftests import _HEADERS, _SELFTESTS, CLANG
from .kernel_source import _cache_root, _locked_build, libbpf_path, tree

HEADERS_PACKAGE = "linux-headers-6.12-cloud-amd64"
PROGRAM = "test_core_reloc_module"
MODULE = "bpf_testmod"


@cache
def release() -> str:
    """The kernel release whose headers ``linux-headers-6.12-cloud-amd64`` pulls in (``uname -r`` of that kernel)."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Status}\n${Depends}", HEADERS_PACKAGE],
                         capture_output=True, text=True, check=False)  # fmt: skip
    status, _, depends = out.stdout.partition("\n")
    require(out.returncode == 0 and status.endswith(" installed"),
            f"{HEADERS_PACKAGE} is not installed (scripts/setup installs it)")  # fmt: skip
    found = re.search(r"linux-headers-(\S+)", depends)
    require(found is not None, f"{HEADERS_PACKAGE} depends on no linux-headers-RELEASE: {depends!r}")
    assert found is not None
    kbuild = Path(f"/lib/modules/{found[1]}/build")
    require(kbuild.is_dir(), f"{kbuild} missing: reinstall {HEADERS_PACKAGE}")
    return found[1]


@dataclass(frozen=True)
class Testmod:
    """The built module, its oracle BTF, the program, and the kernel they go with."""

    release: str
    vmlinux: Path  # the image package's vmlinux (ELF, with .BTF)
    ko: Path  # bpf_testmod.ko without BTF
    pahole_btf: Path  # pahole 1.24's split BTF of the module over vmlinux
    program: Path  # test_core_reloc_module.bpf.o


def _versions(*commands: list[str]) -> bytes:
    return b"".join(subprocess.run(c, capture_output=True, check=True).stdout for c in commands)


def _run(cmd: list[str], log: Path, **kw: object) -> None:
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False, **kw)  # type: ignore[call-overload]
    require(done.returncode == 0, f"{cmd[0]} failed: see {log}")


@cache
def testmod() -> Testmod:
    """bpf_testmod and the module program, built once per set of inputs and cached."""
    rel = release()
    vmlinux = debian_kernels.image(rel).vmlinux
    clang, pahole, bpftool = tool(CLANG), tool("pahole"), tool("bpftool")
    top = tree()
    selftests = top / _SELFTESTS
    sources = sorted((selftests / MODULE).iterdir())
    program_src = selftests / "progs" / f"{PROGRAM}.c"
    libbpf_dir = libbpf_path().parent
    headers = [top / "tools/lib/bpf" / h for h in _HEADERS] + [libbpf_dir / "bpf_helper_defs.h"]
    kbuild = Path(f"/lib/modules/{rel}/build")
    digest = hashlib.sha256(rel.encode())
    digest.update(_versions(["gcc", "--version"], [clang, "--version"], [pahole, "--version"],
                            [bpftool, "version"], ["dpkg-query", "-W", f"linux-headers-{rel}"]))  # fmt: skip
    for path in [*sources, program_src, *headers]:
        digest.update(path.name.encode() + path.read_bytes())
    out = _cache_root() / "core-selftests" / f"testmod-{digest.hexdigest()[:16]}"
    built = Testmod(rel, vmlinux, out / f"{MODULE}.ko", out / "pahole.btf", out / f"{PROGRAM}.bpf.o")
    log = out / "build.log"

    def build() -> None:
        src = out / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(selftests / MODULE, src)
        _run(["make", "-C", str(kbuild), f"M={src}", "modules"], log)
        # kbuild's own BTF (pahole over the headers' vmlinux) goes: the tests encode the module's.
        _run(["objcopy", "--remove-section=.BTF", str(src / f"{MODULE}.ko"), str(built.ko)], log)
        copy = out / f"{MODULE}.pahole.ko"
        shutil.copy(built.ko, copy)
        _run([pahole, "-J", "--btf_base", str(vmlinux), "--btf_encode_detached", str(built.pahole_btf), str(copy)], log)
        copy.unlink()

        include = out / "include"
        (include / "bpf").mkdir(parents=True, exist_ok=True)
        for h in headers:
            shutil.copy(h, include / "bpf")
        with open(include / "vmlinux.h", "w") as f:
            subprocess.run([bpftool, "btf", "dump", "file", str(vmlinux), "format", "c"], stdout=f, check=True)
        flags = [
            "-g", "-O2", "-target", "bpfel", "-mcpu=v3", f"-I{include}", "-D__TARGET_ARCH_x86",
            f"-I{top / 'tools/include/uapi'}", f"-I{selftests}", "-Wno-compare-distinct-pointer-types",
        ]  # fmt: skip
        _run([clang, *flags, "-c", str(program_src), "-o", str(built.program)], log)

    _locked_build(out / ".built", build)
    return built


def with_btfkit_btf(tm: Testmod, directory: Path) -> Path:
    """A copy of the module in ``directory`` with the ``.BTF`` section btfkit encodes over the vmlinux."""
    directory.mkdir(parents=True, exist_ok=True)
    ko = directory / tm.ko.name
    shutil.copy(tm.ko, ko)
    write_section(ko, encode(ko, load(tm.vmlinux)))
    return ko


def flat(base: bytes, split: bytes) -> bytes:
    """One standalone raw BTF with ``base``'s types then ``split``'s, with the IDs and string offsets they had.

    A split BTF numbers its types and string offsets on from its base's, so laying the
    sections end to end keeps every reference; libbpf (with ``btf_custom_path``) reads
    no module BTF, and is given a module's types this way.  Little-endian, plain headers.
    """
    head = "<HBBIIIII"
    parts = []
    for raw in (base, split):
        magic, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(head, raw)
        assert magic == 0xEB9F, "little-endian BTF expected"
        body = raw[hdr_len:]
        parts.append((body[type_off : type_off + type_len], body[str_off : str_off + str_len]))
    types = parts[0][0] + parts[1][0]
    strings = parts[0][1] + parts[1][1]
    header = struct.pack(head, 0xEB9F, 1, 0, struct.calcsize(head), 0, len(types), len(types), len(strings))
    return header + types + strings
