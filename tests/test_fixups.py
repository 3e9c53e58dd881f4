"""An object's BTF judged as libbpf hands it to the kernel: ``validate`` and ``link`` agree.

Oracles: libbpf 1.5 (built from Debian's linux-source-6.12), whose ``bpf_object__open``
applies its fixups to the object's BTF (``bpf_object__btf`` then gives the result, no
privilege needed), and the running kernel (``bpf(BPF_BTF_LOAD)``), which accepts or
refuses that BTF.  Objects come from ``clang -target bpf`` and Debian's ``bpf-gcc -gbtf``.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import btfkit
from btfkit.format.fixups import compiler_fixups, load_time_fixups, object_layout

from . import kernel_oracle, kernel_source
from .conftest import Corpus, require, tool

SOURCE = Path(__file__).parent / "data" / "c" / "fixup_prog.c"
BTFKIT = [sys.executable, "-m", "btfkit"]
COMPILERS = {"clang": ["clang", "-g", "-O2", "-target", "bpf"], "bpf-gcc": ["bpf-gcc", "-gbtf", "-O2"]}


@cache
def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(kernel_source.libbpf_path()))
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__btf.restype = ctypes.c_void_p
    lib.bpf_object__btf.argtypes = [ctypes.c_void_p]
    lib.bpf_object__close.argtypes = [ctypes.c_void_p]
    lib.btf__raw_data.restype = ctypes.c_void_p
    lib.btf__raw_data.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    return lib


def libbpf_opened_btf(obj: Path) -> bytes:
    """The object's BTF as libbpf 1.5 holds it after ``bpf_object__open`` (its fixups done)."""
    lib = _libbpf()
    handle = lib.bpf_object__open_file(str(obj).encode(), None)
    assert handle, f"libbpf cannot open {obj}"
    try:
        size = ctypes.c_uint32()
        data = lib.btf__raw_data(lib.bpf_object__btf(handle), ctypes.byref(size))
        return ctypes.string_at(data, size.value)
    finally:
        lib.bpf_object__close(handle)


@pytest.fixture(scope="module", params=sorted(COMPILERS))
def obj(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc, *flags = COMPILERS[request.param]
    out = tmp_path_factory.mktemp(request.param) / "prog.o"
    subprocess.run([tool(cc), *flags, "-c", str(SOURCE), "-o", str(out)], check=True)
    return out


def _btfkit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BTFKIT, *map(str, args)], capture_output=True, text=True, check=False)


def test_fixups_are_libbpfs(obj: Path) -> None:
    btf = btfkit.load(obj)
    layout = object_layout(obj.read_bytes(), str(obj))
    assert layout is not None
    done = load_time_fixups(btf, layout)
    assert any("size 0 ->" in line for line in done) and any("global -> static" in line for line in done)
    assert btfkit.to_bytes(btf) == libbpf_opened_btf(obj)


def test_validate_judges_as_the_kernel_after_libbpf(obj: Path) -> None:
    reason = kernel_oracle.probe()
    require(reason is None, reason or "")
    kernel = kernel_oracle.load(libbpf_opened_btf(obj))
    r = _btfkit("validate", obj)
    assert (r.returncode == 0) == kernel.ok, f"kernel: {kernel}; btfkit: {r.stdout}{r.stderr}"
    assert "fixed as libbpf does when it opens the object: " in r.stdout
    if not kernel.ok:  # gcc's char: the kernel's "Unsupported encoding"
        assert "Unsupported encoding" in kernel.log
        assert "INT encoding 0x3" in r.stderr and "gcc writes char" in r.stderr


def test_link_output_validates_and_loads(obj: Path, tmp_path: Path) -> None:
    out = tmp_path / "linked.btf"
    r = _btfkit("link", obj, "-o", out)
    assert r.returncode == 0, r.stderr
    assert f"{obj}: " in r.stderr and "fixes" in r.stderr
    assert _btfkit("validate", out).returncode == 0
    reason = kernel_oracle.probe()
    require(reason is None, reason or "")
    result = kernel_oracle.load(out.read_bytes())
    assert result.ok, str(result)


def test_compiler_fixup_is_what_clang_writes(tmp_path: Path) -> None:
    """After the fix, gcc's char and signed char read as clang's do (its unsigned char, CHAR
    where clang writes none, the kernel accepts and the fix leaves)."""
    objs = {}
    for name, (cc, *flags) in COMPILERS.items():
        objs[name] = tmp_path / f"{name}.o"
        subprocess.run([tool(cc), *flags, "-c", str(SOURCE), "-o", str(objs[name])], check=True)
    encodings = {}
    for name, path in objs.items():
        btf = btfkit.load(path)
        compiler_fixups(btf)
        encodings[name] = {t.name: t.encoding for t in btf.types() if t.kind == btfkit.Kind.INT and "char" in t.name}
    for name in ("char", "signed char"):
        assert encodings["bpf-gcc"][name] == encodings["clang"][name] == btfkit.IntEncoding.SIGNED


def test_modules_and_images_are_left_alone(corpus: Corpus) -> None:
    """libbpf opens only relocatable objects; a kernel module's or vmlinux's BTF is read as it is."""
    for path in (corpus.modules[0], corpus.vmlinux):
        assert object_layout(path.read_bytes(), str(path)) is None


@pytest.mark.parametrize("damage", [["--rename-section", ".data.custom=.data.other"],
                                    ["--localize-symbol", "custom_value"]], ids=["no-section", "no-symbol"])  # fmt: skip
def test_objects_libbpf_refuses_are_refused(damage: list[str], tmp_path: Path) -> None:
    """A DATASEC without its ELF section, or a global VAR without a global symbol: libbpf
    fails to open the object, and validate says why."""
    clean, obj = tmp_path / "prog.o", tmp_path / "damaged.o"
    subprocess.run([tool("clang"), *COMPILERS["clang"][1:], "-c", str(SOURCE), "-o", str(clean)], check=True)
    subprocess.run([tool("llvm-objcopy"), *damage, str(clean), str(obj)], check=True)
    assert not _libbpf().bpf_object__open_file(str(obj).encode(), None)
    r = _btfkit("validate", obj)
    assert r.returncode == 1 and "libbpf refuses the object" in r.stderr and r.stderr.count("\n") == 1
