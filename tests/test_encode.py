"""btfkit encode (DWARF to BTF) and link (.BTF sections), against pahole 1.24, bpftool and libbpf.

Kernel modules are built here, out of tree, against Debian's linux-headers for
the corpus kernel: two small ones of ours (tests/data/c/enc_mod_*.c) and two
real third-party ones from Debian's DKMS packages.  Their split BTF must be
byte for byte what ``pahole -J --btf_base <corpus vmlinux>`` makes.
"""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

import btfkit
from btfkit.format.elf import btf_sections
from btfkit.format.fixups import compiler_fixups, load_time_fixups, object_layout
from btfkit.sources.elfedit import set_section
from btfkit.sources.encode import encode, link
from btfkit.transforms.dedup import BaseIndex

from . import core_testmod, libbpf_oracle
from .conftest import Corpus, require, sample, tool

DATA = Path(__file__).parent / "data" / "c"
DEB_CACHE = Path(os.environ.get("BTFKIT_CORPUS", Path.home() / ".cache/btfkit")) / "debs"
BTFKIT = [sys.executable, "-m", "btfkit"]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def checked(cmd: list[str], **kw: object) -> str:
    r = run(cmd, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def pahole_detached(obj: Path, out: Path, base: Path | None, *options: str) -> bytes:
    """pahole 1.24's BTF for ``obj`` (which it may touch, so it gets a copy)."""
    copy = out.with_suffix(".pahole" + obj.suffix)
    shutil.copy(obj, copy)
    cmd = [tool("pahole"), "-J", *options] + (["--btf_base", str(base)] if base else [])
    checked([*cmd, "--btf_encode_detached", str(out), str(copy)])
    return out.read_bytes()


def bpftool_dump(path: Path, base: Path | None) -> str:
    return checked([tool("bpftool"), "btf", "dump", "file", str(path)] + (["-B", str(base)] if base else []))


# --- building modules ------------------------------------------------------------------------
MODULES = ["enc_mod_basic", "enc_mod_decl", "enc_mod_basic-dwarf4", "enc_mod_decl-dwarf4", "acpi_call",
           "v4l2loopback"]


def _kbuild(release: str, src: Path, extra: tuple[str, ...] = ()) -> None:
    """Build the modules in ``src`` out of tree against the headers of kernel ``release``."""
    kbuild = Path(f"/lib/modules/{release}/build")
    require(kbuild.exists(), f"{kbuild} missing: apt-get install linux-headers-{release} "
            "(scripts/setup installs linux-headers-cloud-amd64, the corpus kernel's)")  # fmt: skip
    checked(["make", "-s", "-C", str(kbuild), f"M={src}", *extra, "modules"])


def _deb(package: str) -> Path:
    """The newest ``.deb`` of ``package`` in the cache, downloaded there once."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    debs = sorted(DEB_CACHE.glob(f"{package}_*.deb"))
    if not debs:
        r = run(["apt-get", "download", package], cwd=DEB_CACHE)
        require(r.returncode == 0, f"apt-get download {package} failed: {r.stderr.strip()[-200:]}")
        debs = sorted(DEB_CACHE.glob(f"{package}_*.deb"))
    return debs[-1]


def _dkms_source(package: str, tmp: Path) -> Path:
    checked(["dpkg-deb", "-x", str(_deb(package)), str(tmp)])
    (src,) = (tmp / "usr" / "src").iterdir()
    return src


@pytest.fixture(scope="session")
def modules(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> dict[str, Path]:
    """name -> freshly built .ko for the corpus kernel (no BTF: kbuild skips it without a vmlinux)."""
    tool("make")
    tmp = tmp_path_factory.mktemp("modules")
    built = {}
    # our modules twice: with the kernel's DWARF 5, and with DWARF 4
    for suffix, extra in (("", ()), ("-dwarf4", ("KCFLAGS=-gdwarf-4",))):
        own = tmp / f"own{suffix}"
        own.mkdir()
        for c in DATA.glob("enc_mod_*.c"):
            shutil.copy(c, own)
        (own / "Makefile").write_text("obj-m := " + " ".join(c.stem + ".o" for c in DATA.glob("enc_mod_*.c")) + "\n")
        _kbuild(corpus.release, own, extra)
        built.update({ko.stem + suffix: ko for ko in own.glob("*.ko")})
    acpi = _dkms_source("acpi-call-dkms", tmp / "acpi")
    _kbuild(corpus.release, acpi)
    v4l2 = _dkms_source("v4l2loopback-dkms", tmp / "v4l2")
    # The cloud kernel has no V4L2: its symbols are unresolved, which only modpost minds.
    _kbuild(corpus.release, v4l2, ("KBUILD_MODPOST_WARN=1",))
    built.update({ko.stem: ko for ko in [*acpi.glob("*.ko"), *v4l2.glob("*.ko")]})
    assert set(built) >= set(MODULES), built
    return built


@pytest.fixture(scope="session")
def base_index(corpus: Corpus) -> BaseIndex:
    return BaseIndex(corpus.base)


@pytest.mark.parametrize("name", MODULES)
def test_module_matches_pahole(name: str, modules: dict[str, Path], corpus: Corpus,
                               base_index: BaseIndex, tmp_path: Path) -> None:  # fmt: skip
    ko = modules[name]
    ref = pahole_detached(ko, tmp_path / "pahole.btf", corpus.vmlinux)
    btf = encode(ko, corpus.base, index=base_index)
    mine = btfkit.to_bytes(btf)
    (tmp_path / "btfkit.format.btf").write_bytes(mine)
    assert bpftool_dump(tmp_path / "btfkit.format.btf", corpus.vmlinux) == bpftool_dump(tmp_path / "pahole.btf",
                                                                                  corpus.vmlinux)  # fmt: skip
    assert mine == ref
    assert len(btf) > 0


def test_module_has_percpu_datasec(modules: dict[str, Path], corpus: Corpus,
                                   base_index: BaseIndex) -> None:  # fmt: skip
    """The decl module's per-CPU variables (one defined after a DECLARE) are in the DATASEC."""
    btf = encode(modules["enc_mod_decl"], corpus.base, index=base_index)
    (sec,) = [t for t in btf.find_all(".data..percpu", btfkit.Kind.DATASEC) if t.id >= btf.start_id]
    names = {btf.name_of(v.type_id) for v in sec.vars}
    assert names == {"encd_percpu_stats", "encd_slots"}
    assert btf.find("encd_notrace", btfkit.Kind.FUNC)  # static and notrace, still a FUNC in 1.24


def test_bpf_testmod_matches_pahole(tmp_path: Path) -> None:
    """The selftests' bpf_testmod, built against Debian's 6.12 cloud headers: btfkit's BTF in the
    module (as the CO-RE module tests use it) is pahole's, over the vmlinux of that release's image."""
    tm = core_testmod.testmod()
    ko = core_testmod.with_btfkit_btf(tm, tmp_path / "btfkit")
    mine = tmp_path / "btfkit.btf"
    mine.write_bytes(_sections(ko)[".BTF"])
    ref = pahole_detached(tm.ko, tmp_path / "pahole.btf", tm.vmlinux)
    assert bpftool_dump(mine, tm.vmlinux) == bpftool_dump(tmp_path / "pahole.btf", tm.vmlinux)
    assert mine.read_bytes() == ref
    assert "STRUCT 'bpf_testmod_test_read_ctx'" in bpftool_dump(mine, tm.vmlinux)


COMPILERS = {
    "gcc": ["gcc"], "clang": ["clang"], "clang-bpf": ["clang", "-target", "bpf"],
    "clang-bpfeb": ["clang", "-target", "bpfeb"], "gcc-m32": ["gcc", "-m32"],
    # other machines' relocations (ARM and i386 REL, RISC-V's ADD/SUB pairs, s390x big-endian)
    **{f"clang-{t}": ["clang", "-target", f"{t}-linux-gnu"] for t in ("aarch64", "i386", "riscv64", "s390x")},
    "clang-arm": ["clang", "-target", "arm-linux-gnueabi"],
}  # fmt: skip


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
@pytest.mark.parametrize("flags", [("-gdwarf-4", "-O0"), ("-gdwarf-4", "-O2"), ("-gdwarf-5", "-O0"),
                                   ("-gdwarf-5", "-O2")], ids="/".join)  # fmt: skip
def test_object_matches_pahole(compiler: str, flags: tuple[str, ...], tmp_path: Path) -> None:
    """Every construct of enc_types.c; clang's DWARF 5 also brings string-index forms and
    out-of-line instances that precede their abstract origin.  Other targets (compiling
    enc_link_a.c, which needs no libc, varargs, TLS nor __int128) bring their relocation
    types, REL as well as RELA, 32-bit ELF, and big-endian DWARF and BTF."""
    obj = tmp_path / "enc_types.o"
    cc, *target = COMPILERS[compiler]
    src = DATA / ("enc_link_a.c" if target else "enc_types.c")
    checked([tool(cc), *target, "-g", *flags, "-c", str(src), "-o", str(obj)])
    ref = pahole_detached(obj, tmp_path / "pahole.btf", None)
    mine = btfkit.to_bytes(encode(obj))
    (tmp_path / "btfkit.format.btf").write_bytes(mine)
    assert bpftool_dump(tmp_path / "btfkit.format.btf", None) == bpftool_dump(tmp_path / "pahole.btf", None)
    assert mine == ref


@pytest.mark.parametrize("form", ["vmlinux", "vmlinuz", "raw"])
def test_base_forms(form: str, modules: dict[str, Path], corpus: Corpus, tmp_path: Path) -> None:
    """-B takes the vmlinux ELF, the bzImage or raw BTF, with the same result."""
    base = {"vmlinux": corpus.vmlinux, "vmlinuz": corpus.vmlinuz, "raw": tmp_path / "vmlinux.btf"}[form]
    if form == "raw":
        btfkit.write(corpus.base, base)
    ko = modules["acpi_call"]
    out = tmp_path / "out.btf"
    checked([*BTFKIT, "encode", str(ko), "-B", str(base), "-o", str(out)])
    assert out.read_bytes() == pahole_detached(ko, tmp_path / "pahole.btf", corpus.vmlinux)


def _sections(path: Path) -> dict[str, bytes]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return {s.name: s.data() for s in elf.iter_sections() if s["sh_type"] != "SHT_NOBITS"}


def test_in_place_module(modules: dict[str, Path], corpus: Corpus, tmp_path: Path) -> None:
    ko = tmp_path / "v4l2loopback.ko"
    shutil.copy(modules["v4l2loopback"], ko)
    before = _sections(ko)
    assert ".BTF" not in before
    checked([*BTFKIT, "encode", str(ko), "-B", str(corpus.vmlinux), "--in-place"])
    # pahole's own in-place run (it adds the section with objcopy) as the reference
    ref = tmp_path / "ref.ko"
    shutil.copy(modules["v4l2loopback"], ref)
    checked([tool("pahole"), "-J", "--btf_base", str(corpus.vmlinux), str(ref)],
            env={**os.environ, "LLVM_OBJCOPY": tool("objcopy")})  # fmt: skip
    assert bpftool_dump(ko, corpus.vmlinux) == bpftool_dump(ref, corpus.vmlinux)
    after = _sections(ko)
    assert after[".BTF"] == _sections(ref)[".BTF"]
    assert {k: v for k, v in after.items() if k not in (".BTF", ".shstrtab")} == \
        {k: v for k, v in before.items() if k != ".shstrtab"}  # fmt: skip
    r = run(["readelf", "-a", "-W", str(ko)])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    modinfo = tool("modinfo")
    assert checked([modinfo, str(ko)]).replace(str(ko), "X") == \
        checked([modinfo, str(modules["v4l2loopback"])]).replace(str(modules["v4l2loopback"]), "X")  # fmt: skip
    # replacing the section again changes nothing
    size = ko.stat().st_size
    checked([*BTFKIT, "encode", str(ko), "-B", str(corpus.vmlinux), "--in-place"])
    assert ko.stat().st_size == size
    assert _sections(ko) == after
    # replacing the .BTF section pahole (objcopy) added keeps the module as it was
    ref_sections = _sections(ref)
    checked([*BTFKIT, "encode", str(ref), "-B", str(corpus.vmlinux), "--in-place"])
    assert {k: v for k, v in _sections(ref).items() if k != ".shstrtab"} == \
        {k: v for k, v in ref_sections.items() if k != ".shstrtab"}  # fmt: skip
    r = run(["readelf", "-a", "-W", str(ref)])
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("compiler", ["gcc", "clang-bpfeb"])
def test_in_place_object(compiler: str, tmp_path: Path) -> None:
    """A userspace object (which must still link) and a big-endian 64-bit BPF object."""
    obj = tmp_path / "t.o"
    cc, *target = COMPILERS[compiler]
    src = DATA / ("enc_link_a.c" if target else "enc_types.c")
    checked([tool(cc), *target, "-g", "-O2", "-c", str(src), "-o", str(obj)])
    checked([*BTFKIT, "encode", "--no-base", str(obj), "--in-place"])
    r = run(["readelf", "-a", "-W", str(obj)])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert btf_sections(obj.read_bytes(), "t.o").btf == pahole_detached(obj, tmp_path / "p.btf", None)
    assert bpftool_dump(obj, None) == bpftool_dump(tmp_path / "p.btf", None)
    if not target:
        checked([tool("gcc"), "-shared", str(obj), "-o", str(tmp_path / "t.so")])


def test_kill_mid_write_leaves_original(modules: dict[str, Path], corpus: Corpus, tmp_path: Path) -> None:
    ko = tmp_path / "m.ko"
    shutil.copy(modules["enc_mod_basic"], ko)
    original = ko.read_bytes()
    env = {**os.environ, "BTFKIT_TEST_WRITE_STALL": "60"}
    proc = subprocess.Popen([*BTFKIT, "encode", str(ko), "-B", str(corpus.vmlinux), "--in-place"], env=env)
    try:
        deadline = time.monotonic() + 120
        while not [p for p in tmp_path.glob(".m.ko.*.tmp") if p.stat().st_size]:
            assert proc.poll() is None, "encode ended before writing"
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert ko.read_bytes() == original


def _bad(args: list[str]) -> str:
    r = run([*BTFKIT, *args])
    assert r.returncode == 1, r
    assert r.stderr.startswith("btfkit: error: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


def test_bad_inputs(modules: dict[str, Path], corpus: Corpus, tmp_path: Path) -> None:
    nodw = tmp_path / "nodw.o"
    checked([tool("gcc"), "-O2", "-c", str(DATA / "enc_types.c"), "-o", str(nodw)])
    assert "no DWARF" in _bad(["encode", "--no-base", str(nodw), "-o", str(tmp_path / "x")])
    trunc = tmp_path / "trunc.ko"
    trunc.write_bytes(modules["acpi_call"].read_bytes()[:4000])
    assert "trunc.ko" in _bad(["encode", str(trunc), "-B", str(corpus.vmlinux), "-o", str(tmp_path / "x")])
    notelf = tmp_path / "text.o"
    notelf.write_text("hello\n")
    assert "not an ELF" in _bad(["encode", "--no-base", str(notelf), "-o", str(tmp_path / "x")])
    # a base that is not the module's kernel: here, the BTF of a userspace object
    other = tmp_path / "other.btf"
    obj = tmp_path / "t.o"
    checked([tool("gcc"), "-g", "-c", str(DATA / "enc_types.c"), "-o", str(obj)])
    checked([*BTFKIT, "encode", "--no-base", str(obj), "-o", str(other)])
    assert "base does not match" in _bad(["encode", str(modules["acpi_call"]), "-B", str(other),
                                          "-o", str(tmp_path / "x")])  # fmt: skip
    assert not (tmp_path / "x").exists()
    _bad(["encode", "--no-base", str(obj)])  # neither -o nor --in-place
    _bad(["link", str(nodw), "-o", str(tmp_path / "x")])  # no .BTF section


# --- link ------------------------------------------------------------------------------------
LINK_SOURCES = ["enc_link_a.c", "enc_link_b.c"]


# How each toolchain makes BTF objects without DWARF.
TOOLCHAINS = {
    "gcc-gbtf": ["gcc", "-gbtf", "-O2"],
    "clang-bpf": ["clang", "-g", "-O2", "-target", "bpf"],
    "clang-bpfeb": ["clang", "-g", "-O2", "-target", "bpfeb"],
}


@pytest.fixture(scope="module", params=sorted(TOOLCHAINS))
def gbtf_objects(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    cc, *flags = TOOLCHAINS[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    r = run([tool(cc), *flags, "-x", "c", "-c", "-", "-o", str(tmp / "probe.o")], input="int x;")
    require(r.returncode == 0, f"{' '.join(TOOLCHAINS[request.param])} unsupported: {r.stderr.strip()}")
    objs = []
    for src in LINK_SOURCES:
        obj = tmp / src.replace(".c", ".o")
        checked([tool(cc), *flags, "-c", str(DATA / src), "-o", str(obj)])
        objs.append(obj)
    return objs


def _probe_source(btf: btfkit.BTF, header: str) -> str:
    """A program printing sizeof and offsetof of every named struct/union and non-bitfield member."""
    lines = [f'#include "{header}"', "#include <stdio.h>", "#include <stddef.h>", "int main(void) {"]
    for t in btf.types():
        if t.kind not in (btfkit.Kind.STRUCT, btfkit.Kind.UNION) or not t.name:
            continue
        tag = "struct" if t.kind == btfkit.Kind.STRUCT else "union"
        lines.append(f'printf("{tag} {t.name} %zu\\n", sizeof({tag} {t.name}));')
        lines.extend(f'printf("  {m.name} %zu\\n", offsetof({tag} {t.name}, {m.name}));'
                     for m in t.members if m.name and not m.bitfield_size)  # fmt: skip
    return "\n".join([*lines, "return 0; }", ""])


def test_link_layout_matches_source(gbtf_objects: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "linked.btf"
    checked([*BTFKIT, "link", *map(str, gbtf_objects), "-o", str(out)])
    btf = btfkit.load(out)
    if btf.byteorder != sys.byteorder:  # bpftool dumps only host-order BTF as C
        btfkit.write(btf, out, sys.byteorder)
    assert {"enc_node", "enc_list", "enc_only_b", "enc_point"} <= {t.name for t in btf.types()}
    assert len(btf.find_all("enc_node", btfkit.Kind.STRUCT)) == 1  # merged, not duplicated
    (tmp_path / "dumped.h").write_text(checked([tool("bpftool"), "btf", "dump", "file", str(out), "format", "c"]))
    shutil.copy(DATA / "enc_link.h", tmp_path / "orig.h")
    results = []
    for header in ("orig.h", "dumped.h"):
        (tmp_path / "probe.c").write_text(_probe_source(btf, header))
        exe = tmp_path / f"probe-{header}"
        checked([tool("gcc"), "-w", "-I", str(tmp_path), str(tmp_path / "probe.c"), "-o", str(exe)])
        results.append(checked([str(exe)]))
    assert results[0] == results[1]
    assert "struct enc_node" in results[0]


def _libbpf_link(raws: list[bytes], base_raw: bytes | None) -> bytes:
    lib = libbpf_oracle._lib()
    lib.btf__add_btf.restype = ctypes.c_int
    lib.btf__add_btf.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    base = libbpf_oracle.new(base_raw) if base_raw else None
    dst = libbpf_oracle.Builder(base)
    try:
        for raw in raws:
            with libbpf_oracle.parsed(raw) as src:
                assert lib.btf__add_btf(dst.btf, src) > 0
        return dst.dedup()
    finally:
        dst.close()
        libbpf_oracle.free(base)


def _fixed_section(obj: Path) -> bytes:
    """An object's .BTF after the fixups link makes first (checked against libbpf 1.5's own in
    test_fixups.py), in the section's byte order."""
    btf = btfkit.load(obj)
    layout = object_layout(obj.read_bytes(), obj.name)
    assert layout is not None
    load_time_fixups(btf, layout)
    compiler_fixups(btf)
    return btfkit.to_bytes(btf)


@pytest.mark.parametrize("split", [False, True])
def test_link_matches_libbpf(split: bool, gbtf_objects: list[Path]) -> None:
    """Merging with btf__add_btf and deduplicating with btf__dedup gives the same types and strings
    (both from the objects' fixed BTF).

    libbpf builds in host byte order (or its base's) whatever its inputs; btfkit keeps the
    objects' order (a bpfeb link stays big-endian), so the comparison is in libbpf's order.
    """
    raws = [_fixed_section(o) for o in gbtf_objects]
    order = "little" if raws[0][:2] == b"\x9f\xeb" else "big"
    if split:
        base = link(gbtf_objects[:1])
        merged = link(gbtf_objects[1:], base)
        expected = _libbpf_link(raws[1:], btfkit.to_bytes(base))
    else:
        merged = link(gbtf_objects)
        expected = _libbpf_link(raws, None)
    assert merged.byteorder == order
    assert btfkit.to_bytes(merged, "little" if expected[:2] == b"\x9f\xeb" else "big") == expected


def test_default_base_is_the_modules_kernel(modules: dict[str, Path], sys_vmlinux: Path, corpus: Corpus,
                                            tmp_path: Path) -> None:  # fmt: skip
    """Without -B a module is encoded on its own kernel's vmlinux, never on the running kernel's
    when it was built for another (modinfo's vermagic says which).  Here the modules were built
    for the corpus kernel, out of tree: no base is found, and the error names -B and where it
    looked.  Given the running kernel's BTF with -B, btfkit warns and the struct module check
    refuses; with the check off, the result is still pahole's on the same base."""
    ko = modules["acpi_call"]
    out = tmp_path / "out.btf"
    vermagic = checked([tool("modinfo"), "-F", "vermagic", str(ko)]).split()[0]
    require(vermagic != os.uname().release, "this machine runs the modules' own kernel")
    err = _bad(["encode", str(ko), "-o", str(out)])
    assert "no base found" in err and "-B" in err and f"/boot/vmlinuz-{vermagic}" in err
    r = run([*BTFKIT, "encode", str(ko), "-B", str(sys_vmlinux), "-o", str(out)])
    assert r.returncode == 1 and "base does not match" in r.stderr
    assert f"built for kernel {vermagic}, but the base {sys_vmlinux} is {os.uname().release}'s" in r.stderr
    checked([*BTFKIT, "encode", str(ko), "-B", str(sys_vmlinux), "--no-base-check", "-o", str(out)])
    assert out.read_bytes() == pahole_detached(ko, tmp_path / "pahole.btf", sys_vmlinux)
    # In the corpus's layout (modules below the vmlinux of their package), the base is found and named.
    (corpus_like := tmp_path / "pkg" / "modules").mkdir(parents=True)
    (tmp_path / "pkg" / "vmlinux").symlink_to(corpus.vmlinux)
    shutil.copy(ko, corpus_like / ko.name)
    r = run([*BTFKIT, "encode", str(corpus_like / ko.name), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert f"base {tmp_path / 'pkg' / 'vmlinux'} (the modules' kernel, {vermagic})" in r.stderr
    assert out.read_bytes() == pahole_detached(ko, tmp_path / "pahole-corpus.btf", corpus.vmlinux)


def test_userspace_object_gets_standalone_btf(tmp_path: Path) -> None:
    """An object that is not a kernel module is encoded standalone without -B (it was split
    on the running kernel's BTF before), as plain ``pahole -J`` does."""
    obj = tmp_path / "t.o"
    checked([tool("gcc"), "-g", "-c", str(DATA / "enc_types.c"), "-o", str(obj)])
    checked([*BTFKIT, "encode", str(obj), "-o", str(tmp_path / "t.btf")])
    assert btfkit.load(tmp_path / "t.btf").base is None
    assert (tmp_path / "t.btf").read_bytes() == pahole_detached(obj, tmp_path / "p.btf", None)


def test_output_replaces_longer_file(tmp_path: Path) -> None:
    """pahole 1.24 writes --btf_encode_detached output without O_TRUNC, so an older, longer file
    keeps its tail after the new BTF; btfkit (on purpose) leaves exactly the BTF."""
    obj = tmp_path / "t.o"
    checked([tool("gcc"), "-g", "-c", str(DATA / "enc_types.c"), "-o", str(obj)])
    clean = pahole_detached(obj, tmp_path / "clean.btf", None)
    stale = b"\xff" * (len(clean) + 100)
    (tmp_path / "p.btf").write_bytes(stale)
    assert pahole_detached(obj, tmp_path / "p.btf", None) == clean + stale[len(clean):]  # the quirk
    (tmp_path / "b.btf").write_bytes(stale)
    checked([*BTFKIT, "encode", "--no-base", str(obj), "-o", str(tmp_path / "b.btf")])
    assert (tmp_path / "b.btf").read_bytes() == clean


def test_corrupt_dwarf_never_crashes(tmp_path: Path) -> None:
    """Random damage to .debug_info/.debug_abbrev: an encoding or a BTFError, never another exception."""
    obj = tmp_path / "t.o"
    checked([tool("gcc"), "-g", "-O2", "-c", str(DATA / "enc_types.c"), "-o", str(obj)])
    data = obj.read_bytes()
    with open(obj, "rb") as f:
        elf = ELFFile(f)
        spans = [(int(s["sh_offset"]), int(s["sh_size"])) for s in elf.iter_sections()
                 if s.name in (".debug_info", ".debug_abbrev")]  # fmt: skip
    rng = random.Random(5)
    failures = 0
    for _ in range(200):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            off, size = rng.choice(spans)
            buf[off + rng.randrange(size)] = rng.randrange(256)
        try:
            encode(bytes(buf), name="bad.o")
        except btfkit.BTFError:
            failures += 1
    assert failures  # the damage was noticed at least sometimes


# --- the corpus kernel's own modules, unstripped ---------------------------------------------
DBG_SAMPLE_EVERY = 16  # of the ~560 modules under kernel/{net,fs,drivers/net}: 36


def test_in_tree_modules_match_pahole(corpus: Corpus, base_index: BaseIndex, tmp_path: Path) -> None:
    """Debian's debug package has the corpus kernel's own modules with their DWARF (what
    the shipped ones were stripped of): a sample of them encodes to pahole's bytes.  (All
    562 are checked by ``scripts/test --full``; 36 keep CI short.)"""
    deb = _deb(f"linux-image-{corpus.release}-dbg")
    tree = tmp_path / "dbg"
    tree.mkdir()
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        checked(["tar", "-x", "-C", str(tree), "--wildcards", "*/kernel/net/*", "*/kernel/fs/*",
                 "*/kernel/drivers/net/*"], stdin=tar.stdout)  # fmt: skip
        assert tar.wait() == 0
        kos = sorted(tree.rglob("*.ko"))
        assert len(kos) > 400
        picked = sample(kos, DBG_SAMPLE_EVERY)
        mismatched = []
        for ko in picked:
            ref = pahole_detached(ko, tmp_path / f"{ko.stem}.btf", corpus.vmlinux)
            if btfkit.to_bytes(encode(ko, corpus.base, index=base_index)) != ref:
                mismatched.append(ko.name)
    finally:
        shutil.rmtree(tree)  # about 1 GB
    assert not mismatched, f"{len(mismatched)} of {len(picked)} differ from pahole: {mismatched}"


@pytest.mark.parametrize("compiler", ["gcc", "clang-bpfeb"])
def test_set_section_on_damaged_elf(compiler: str, tmp_path: Path) -> None:
    """Truncated or scribbled-on ELF files (without, and big-endian with, a .BTF section):
    set_section raises ELFError or returns an ELF image, nothing else."""
    obj = tmp_path / "t.o"
    cc, *target = COMPILERS[compiler]
    checked([tool(cc), *target, "-g", "-c", str(DATA / "enc_link_a.c"), "-o", str(obj)])
    data = obj.read_bytes()
    rng = random.Random(7)
    candidates = [data[:cut] for cut in range(0, len(data), 97)]
    for _ in range(300):
        buf = bytearray(data)
        for _ in range(4):
            buf[rng.randrange(64)] = rng.randrange(256)  # the ELF header
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        candidates.append(bytes(buf))
    for cand in candidates:
        try:
            out = set_section(cand, ".BTF", b"\x9f\xeb\x01\x00")
        except btfkit.ELFError:
            continue
        assert out[:4] == b"\x7fELF"


@pytest.mark.parametrize("method", ["zlib", "zstd"])
def test_compressed_debug_sections(method: str, modules: dict[str, Path], corpus: Corpus,
                                   base_index: BaseIndex, tmp_path: Path) -> None:  # fmt: skip
    """Debug sections compressed (SHF_COMPRESSED, as gcc -gz or CONFIG_DEBUG_INFO_COMPRESSED
    make them) give the BTF pahole makes from the uncompressed file.  (pahole 1.24 itself
    reads zlib but not zstd with Debian's elfutils.)"""
    ko = tmp_path / "m.ko"
    r = run([tool("objcopy"), f"--compress-debug-sections={method}", str(modules["enc_mod_decl"]), str(ko)])
    require(r.returncode == 0, f"objcopy cannot compress with {method}: {r.stderr.strip()}")
    with open(ko, "rb") as f:
        info = ELFFile(f).get_section_by_name(".debug_info")
        assert info is not None and info["sh_flags"] & 0x800  # SHF_COMPRESSED
    ref = pahole_detached(modules["enc_mod_decl"], tmp_path / "pahole.btf", corpus.vmlinux)
    assert btfkit.to_bytes(encode(ko, corpus.base, index=base_index)) == ref


@pytest.mark.parametrize("flags", [("-gdwarf-4", "-O0"), ("-gdwarf-5", "-O0"), ("-gdwarf-5", "-O2")],
                         ids="/".join)  # fmt: skip
def test_clang_annotations_match_pahole(flags: tuple[str, ...], tmp_path: Path) -> None:
    """btf_type_tag and btf_decl_tag (clang's DW_TAG_LLVM_annotation): TYPE_TAG and DECL_TAG
    where pahole 1.24 puts them."""
    obj = tmp_path / "enc_tags.o"
    checked([tool("clang"), "-g", *flags, "-c", str(DATA / "enc_tags.c"), "-o", str(obj)])
    ref = pahole_detached(obj, tmp_path / "pahole.btf", None)
    btf = encode(obj)
    assert btfkit.to_bytes(btf) == ref
    kinds = {t.kind for t in btf.types()}
    assert {btfkit.Kind.TYPE_TAG, btfkit.Kind.DECL_TAG} <= kinds


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("dwarf", ["-gdwarf-4", "-gdwarf-5"])
def test_percpu_variables_match_pahole(compiler: str, dwarf: str, tmp_path: Path) -> None:
    obj = tmp_path / "enc_percpu.o"
    checked([tool(compiler), "-g", dwarf, "-O2", "-c", str(DATA / "enc_percpu.c"), "-o", str(obj)])
    ref = pahole_detached(obj, tmp_path / "pahole.btf", None)
    btf = encode(obj)
    assert btfkit.to_bytes(btf) == ref
    (sec,) = [t for t in btf.types() if t.kind == btfkit.Kind.DATASEC]
    with open(obj, "rb") as f:  # every sized object symbol of the section is a VAR
        elf = ELFFile(f)
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".data..percpu")
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        symbols = {s.name for s in symtab.iter_symbols()
                   if s["st_shndx"] == index and s["st_info"]["type"] == "STT_OBJECT" and s["st_size"]}  # fmt: skip
    assert {btf.name_of(v.type_id) for v in sec.vars} == symbols
    assert {"pc_one", "pc_three"} <= symbols


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_gen_floats_matches_pahole(compiler: str, tmp_path: Path) -> None:
    """--btf_gen_floats (kernel builds pass it): float, double and long double as FLOAT."""
    obj = tmp_path / "enc_types.o"
    checked([tool(compiler), "-g", "-O2", "-c", str(DATA / "enc_types.c"), "-o", str(obj)])
    ref = pahole_detached(obj, tmp_path / "pahole.btf", None, "--btf_gen_floats")
    out = tmp_path / "btfkit.format.btf"
    checked([*BTFKIT, "encode", "--no-base", "--btf_gen_floats", str(obj), "-o", str(out)])
    assert out.read_bytes() == ref
    assert {t.name for t in btfkit.load(out).types() if t.kind == btfkit.Kind.FLOAT} >= {"float", "double"}


def test_gen_floats_refuses_complex(tmp_path: Path) -> None:
    """pahole 1.24 gives up on complex floats with --btf_gen_floats; so does btfkit, in one line."""
    src = tmp_path / "c.c"
    src.write_text("_Complex double z;\n")
    obj = tmp_path / "c.o"
    checked([tool("gcc"), "-g", "-c", str(src), "-o", str(obj)])
    r = run([tool("pahole"), "-J", "--btf_gen_floats", "--btf_encode_detached", str(tmp_path / "p.btf"), str(obj)])
    assert r.returncode != 0
    assert "complex" in _bad(["encode", "--no-base", "--btf_gen_floats", str(obj), "-o", str(tmp_path / "b")])
