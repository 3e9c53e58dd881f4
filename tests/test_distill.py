"""Distilled base BTF and relocation (issue 13) against libbpf 1.5's ``btf__distill_base`` and
``btf__relocate`` (built from Debian's linux-source-6.12, tests/libbpf15_oracle.py) and the
bpftool 7.5 built on it.

- random split BTF (hypothesis): distilling gives libbpf's bytes or libbpf's refusal, and
  relocating the result onto its own base, or onto an unrelated one, gives libbpf's bytes
  or the same refusal naming the same type;
- every module of the archive's newest 6.12 cloud kernel: distill and relocate back onto
  its vmlinux, byte for byte as libbpf;
- the update scenario: every module of the oldest 6.12 cloud kernel distilled with
  ``btfkit distill`` and relocated with ``btfkit relocate`` onto the newest vmlinux, as
  libbpf relocates them (the same modules, the same bytes, the same type named);
- a module written ``--in-place`` dumps as bpftool 7.5 dumps it, and relocates onto the
  running kernel as libbpf 1.5's ``btf__parse_split`` does;
- ``relocate --dedup`` gives libbpf's ``btf__dedup`` of libbpf's relocated bytes;
- ``encode --distill`` gives what encoding and then distilling give.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import btfkit
from btfkit.format.build import Builder
from btfkit.format.elf import btf_sections, unwrap
from btfkit.format.kinds import IntEncoding
from btfkit.format.reader import load, parse
from btfkit.format.relocate import RelocateError, RelocationBase, relocate
from btfkit.format.writer import to_bytes
from btfkit.transforms.distill import DistillError, distill

from . import libbpf15_oracle as libbpf
from .conftest import SYS_VMLINUX, Corpus, require
from .debian_kernels import KernelImage, image, releases
from .kernel_source import bpftool_path
from .strategies import split_graphs, type_graphs

BTFKIT = [sys.executable, "-m", "btfkit"]
ENC_DATA = Path(__file__).parent / "data" / "c"  # test_encode's small module sources
FULL = os.environ.get("BTFKIT_FULL") == "1"
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BTFKIT, *map(str, args)], capture_output=True, text=True, check=False)


def _named(message: str) -> str:
    """The ``'name' [id]`` a libbpf warning names (the distilled type it failed on)."""
    found = re.search(r"'([^']*)' \[(\d+)\]", message)
    assert found, message
    return found.group(0)


def _same_outcome(ours: bytes | btfkit.BTFError, theirs: bytes | libbpf.LibbpfError) -> None:
    """Both relocated to the same bytes, or both refused naming the same distilled type."""
    if isinstance(theirs, bytes):
        assert ours == theirs
    else:
        assert isinstance(ours, btfkit.BTFError), f"libbpf refused ({theirs.message}), btfkit did not"
        if re.search(r"'[^']*' \[\d+\]", theirs.message):  # it names a distilled type
            assert _named(theirs.message) in str(ours), (str(ours), theirs.message)


def _relocate_both(split_raw: bytes, dist_raw: bytes, base: btfkit.BTF, lib_base: int) -> None:
    try:
        theirs: bytes | libbpf.LibbpfError = libbpf.relocate(split_raw, dist_raw, lib_base)
    except libbpf.LibbpfError as exc:
        theirs = exc
    relocated = None
    try:  # (libbpf's distilled bytes may not even parse: see the empty-base case in distill)
        relocated = relocate(parse(split_raw, parse(dist_raw)), base)
        # Unchecked: relocation may give BTF that breaks the open-time rules (checked below).
        ours: bytes | btfkit.BTFError = to_bytes(relocated, check=False)
    except btfkit.BTFError as exc:
        ours = exc
    _same_outcome(ours, theirs)
    if relocated is not None and isinstance(theirs, bytes):
        # Such a result (a FUNC moved onto a base type that is no FUNC_PROTO, say) is one that
        # libbpf refuses to read back, as btfkit refuses to write it.
        try:
            relocated.check_references()
            ours_valid = True
        except btfkit.BTFError:
            ours_valid = False
        try:
            with libbpf.parsed(theirs, lib_base):
                theirs_valid = True
        except libbpf.LibbpfError:
            theirs_valid = False
        assert ours_valid == theirs_valid


# --- random split BTF -------------------------------------------------------------------------
@PROPS
@given(split_graphs(), type_graphs())
def test_random_distill_and_relocate(graphs: tuple, other: object) -> None:  # type: ignore[type-arg]
    base_graph, split_graph = graphs
    base = parse(to_bytes(base_graph.build()))
    split = parse(to_bytes(split_graph.build(base)), base)
    with libbpf.parsed(to_bytes(base)) as lib_base:
        try:
            theirs = libbpf.distill(to_bytes(split), lib_base)
        except libbpf.LibbpfError as exc:
            with pytest.raises(DistillError) as err:
                distill(split)
            assert re.search(r"\[\d+\]", exc.message).group(0) in str(err.value)  # type: ignore[union-attr]
            return
        dist, new_split = distill(split)
        # Unchecked: libbpf's quirks (see distill's docstring) can give BTF that breaks the
        # open-time rules, byte for byte as libbpf gives it.
        assert (to_bytes(dist, check=False), to_bytes(new_split, check=False)) == theirs
        _relocate_both(theirs[1], theirs[0], base, lib_base)
    # onto an unrelated base: mostly refusals, which must be libbpf's
    other_base = parse(to_bytes(other.build()))  # type: ignore[attr-defined]
    with libbpf.parsed(to_bytes(other_base)) as lib_other:
        _relocate_both(theirs[1], theirs[0], other_base, lib_other)


def test_not_split_is_refused() -> None:
    b = Builder()
    b.add_int("int", 4)
    with pytest.raises(DistillError, match="only split BTF"):
        distill(b.btf)


# --- the cases libbpf's selftests name (btf_distill.c), built small ----------------------------
def _base(struct_size: int, *, twice: bool = False) -> btfkit.BTF:
    """A base with ``int``, ``struct s`` of ``struct_size`` bytes (two of them if ``twice``) and ``struct t``."""
    b = Builder()
    i = b.add_int("int", 4, IntEncoding.SIGNED)
    for _ in range(2 if twice else 1):
        b.add_struct("s", struct_size)
        b.add_member("a", i, 0)
    b.add_struct("t", 8)
    b.add_member("b", i, 0)
    return b.btf


def _module(base: btfkit.BTF, *, embed: bool) -> btfkit.BTF:
    """A module whose struct holds base ``struct s`` by value (``embed``) or by pointer, and points to ``t``."""
    b = Builder(base=base)
    s, t = base.find("s").id, base.find("t").id
    ps, pt = b.add_ptr(s), b.add_ptr(t)
    b.add_struct("m", 24)
    b.add_member("s", s if embed else ps, 0)
    b.add_member("t", pt, 128)
    return b.btf


@pytest.mark.parametrize(("embed", "new_size", "twice"), [
    (True, 4, False), (True, 8, False), (False, 8, False), (False, 4, True), (True, 8, True),
])  # fmt: skip
def test_relocation_cases(embed: bool, new_size: int, twice: bool) -> None:
    """Embedded structs must keep their size, pointed-to ones need not; a base with two candidates
    of the size sought is ambiguous.  Outcomes and the type named compared with libbpf."""
    old = parse(to_bytes(_base(4)))
    module = parse(to_bytes(_module(old, embed=embed)), old)
    new = parse(to_bytes(_base(new_size, twice=twice)))
    with libbpf.parsed(to_bytes(old)) as lib_old:
        dist_raw, split_raw = libbpf.distill(to_bytes(module), lib_old)
    dist, split = distill(module)
    assert (to_bytes(dist), to_bytes(split)) == (dist_raw, split_raw)
    with libbpf.parsed(to_bytes(new)) as lib_new:
        _relocate_both(split_raw, dist_raw, new, lib_new)
    if embed and new_size != 4 and not twice:
        with pytest.raises(RelocateError, match=r"STRUCT 's' \[\d+\] \(4 bytes\) is embedded .* of 8 bytes"):
            relocate(parse(split_raw, parse(dist_raw)), new)


# --- a whole kernel ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def newest() -> KernelImage:
    return image(releases("6.12")[-1])


def _sample(modules: list[Path], n: int = 160) -> list[Path]:
    """Every module with BTFKIT_FULL=1; else every n-th plus the largest (CI's fixed sample)."""
    if FULL:
        return modules
    largest = sorted(modules, key=lambda p: p.stat().st_size)[-20:]
    return sorted(set(modules[:: max(1, len(modules) // n)]) | set(largest))


def test_every_module_distills_and_relocates_back(newest: KernelImage) -> None:
    base = load(newest.vmlinux)
    target = RelocationBase(base)
    modules = newest.modules
    assert len(modules) > 500
    with libbpf.parsed(to_bytes(base)) as lib_base:
        for path in modules:
            module = load(path, base)
            raw = to_bytes(module)
            dist_raw, split_raw = libbpf.distill(raw, lib_base)
            dist, split = distill(module)
            assert to_bytes(dist) == dist_raw, path
            assert to_bytes(split) == split_raw, path
            back = relocate(parse(split_raw, parse(dist_raw)), target)
            assert to_bytes(back) == libbpf.relocate(split_raw, dist_raw, lib_base), path


# --- the update scenario ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def distilled_oldest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KernelImage, Path]]:
    found = releases("6.12")
    require(len(found) >= 2, f"the archive holds only {found} of the 6.12 cloud kernels")
    old = image(found[0])
    out = tmp_path_factory.mktemp("distilled")
    r = _run("distill", old.modules_dir, "-B", old.vmlinux, "-o", out)
    assert r.returncode == 0, r.stderr
    assert f"{len(old.modules)} of {len(old.modules)} modules distilled" in r.stdout
    yield old, out
    shutil.rmtree(out, ignore_errors=True)


def test_update_scenario(distilled_oldest: tuple[KernelImage, Path], newest: KernelImage, tmp_path: Path,
                         record_property: object) -> None:  # fmt: skip
    old, distilled = distilled_oldest
    out = tmp_path / "relocated"
    r = _run("relocate", distilled, "-B", newest.vmlinux, "-o", out)
    report = {m.group(1): m.group(2) for m in re.finditer(r"^not relocated (\S+) \(.*?\): (.*)$", r.stdout, re.M)}
    carried = failed = 0
    old_base = load(old.vmlinux)
    with libbpf.parsed(to_bytes(old_base)) as lib_old, libbpf.parsed(to_bytes(load(newest.vmlinux))) as lib_new:
        for path in old.modules:
            name = str(path.relative_to(old.modules_dir)).removesuffix(".ko.xz")
            split_raw = (distilled / f"{name}.btf").read_bytes()
            dist_raw = (distilled / f"{name}.base.btf").read_bytes()
            if path in _sample(old.modules):  # the distilled files are libbpf's (all: BTFKIT_FULL=1)
                assert (dist_raw, split_raw) == libbpf.distill(to_bytes(load(path, old_base)), lib_old), name
            try:
                theirs = libbpf.relocate(split_raw, dist_raw, lib_new)
            except libbpf.LibbpfError as exc:
                failed += 1
                assert name in report, f"{name}: libbpf refused ({exc.message}), btfkit did not"
                # btfkit names the module (in the report line), the type libbpf names, and why
                assert _named(exc.message) in report[name], (report[name], exc.message)
                assert re.search(r"\(\d+ bytes\).*\d+ bytes", report[name]), report[name]
                assert not (out / f"{name}.btf").exists()
                continue
            carried += 1
            assert name not in report, report.get(name)
            assert (out / f"{name}.btf").read_bytes() == theirs, name
    assert len(report) == failed
    assert r.returncode == (1 if failed else 0), r.stderr
    assert f"{carried} of {carried + failed} relocated" in r.stdout
    summary = f"{old.release} -> {newest.release}: {carried} of {carried + failed} modules carry over"
    record_property("update_scenario", summary)  # type: ignore[operator]
    print(summary)


# --- a module with .BTF.base, as pahole --btf_features=distilled_base writes it ----------------
def _plain_copy(module: Path, dest: Path) -> Path:
    dest.write_bytes(bytes(unwrap(module.read_bytes(), str(module))))
    return dest


def _dump_bpftool(path: Path, base: Path | None = None) -> str:
    cmd = [str(bpftool_path()), "btf", "dump", "file", str(path)] + (["-B", str(base)] if base else [])
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_in_place_module_reads_as_libbpf_and_bpftool(which: str, newest: KernelImage, tmp_path: Path) -> None:
    by_size = sorted(newest.modules, key=lambda p: p.stat().st_size)
    ko = _plain_copy(by_size[-1 if which == "largest" else 0], tmp_path / "m.ko")
    before = btf_sections(ko.read_bytes(), "m.ko")
    assert before.base_btf is None
    r = _run("distill", "--in-place", ko, "-B", newest.vmlinux)
    assert r.returncode == 0, r.stderr
    sections = btf_sections(ko.read_bytes(), "m.ko")
    base = load(newest.vmlinux)
    with libbpf.parsed(to_bytes(base)) as lib_base:
        assert (sections.base_btf, sections.btf) == libbpf.distill(before.btf, lib_base)
    # bpftool 7.5 reads it, alone and relocated onto the vmlinux; btfkit dumps the same
    for b in (None, newest.vmlinux):
        extra = ["-B", str(b)] if b else []
        ours = subprocess.run([*BTFKIT, "dump", str(ko), *extra], capture_output=True, text=True, check=True)
        assert ours.stdout == _dump_bpftool(ko, b)
    info = _run("info", ko, "-B", newest.vmlinux)
    assert "relocated onto the base" in info.stdout and "distilled base (.BTF.base)" in info.stdout
    # onto the running kernel: libbpf's bytes, or its refusal naming the same type
    require(SYS_VMLINUX.exists(), "this kernel exposes no /sys/kernel/btf/vmlinux")
    sys_base = load(SYS_VMLINUX)
    with libbpf.parsed(SYS_VMLINUX.read_bytes()) as lib_sys:
        try:
            theirs: bytes | libbpf.LibbpfError = libbpf.parse_split(ko, lib_sys).raw
        except libbpf.LibbpfError as exc:
            theirs = exc
    try:
        ours_raw: bytes | btfkit.BTFError = to_bytes(load(ko, sys_base))
    except RelocateError as exc:
        ours_raw = exc
    _same_outcome(ours_raw, theirs)


# --- relocate --dedup ------------------------------------------------------------------------
def test_relocate_dedup_matches_libbpf(newest: KernelImage, tmp_path: Path) -> None:
    modules = sorted(newest.modules, key=lambda p: p.stat().st_size)
    sample = modules[:: max(1, len(modules) // 30)] + modules[-3:]
    links = tmp_path / "in"
    links.mkdir()
    for m in sample:
        (links / m.name).symlink_to(m)
    distilled = tmp_path / "distilled"
    assert _run("distill", links, "-B", newest.vmlinux, "-o", distilled).returncode == 0
    out = tmp_path / "out"
    r = _run("relocate", distilled, "-B", newest.vmlinux, "-o", out, "--dedup", "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(re.findall(r"^relocated ", r.stdout, re.M)) == len(sample)
    base = load(newest.vmlinux)
    same_as_module = 0
    with libbpf.parsed(to_bytes(base)) as lib_base:
        for m in sample:
            stem = m.name.removesuffix(".ko.xz")
            split_raw = (distilled / f"{stem}.btf").read_bytes()
            moved = libbpf.relocate(split_raw, (distilled / f"{stem}.base.btf").read_bytes(), lib_base)
            ours = (out / f"{stem}.btf").read_bytes()
            assert ours == libbpf.dedup(moved, lib_base), stem
            same_as_module += ours == to_bytes(load(m, base))
    print(f"relocate --dedup onto the same vmlinux gave back the module's own BTF for {same_as_module} of {len(sample)}")
    assert same_as_module > len(sample) // 2


# --- the command line --------------------------------------------------------------------------
def test_cli_errors(newest: KernelImage, tmp_path: Path) -> None:
    ko = _plain_copy(newest.modules[0], tmp_path / "plain.ko")
    r = _run("relocate", ko, "-B", newest.vmlinux, "-o", tmp_path / "out")
    assert r.returncode == 1 and "no .BTF.base section" in r.stdout
    r = _run("distill", newest.modules[0], "-B", newest.vmlinux)
    assert r.returncode == 1 and "exactly one of -o DIR and --in-place" in r.stderr
    r = _run("distill", "--in-place", newest.modules[0], "-B", newest.vmlinux)
    assert r.returncode == 1 and "not an uncompressed ELF file" in r.stderr
    (tmp_path / "lone.btf").write_bytes(b"")
    r = _run("relocate", tmp_path / "lone.btf", "-B", newest.vmlinux, "-o", tmp_path / "out")
    assert r.returncode == 1 and "no distilled base lone.base.btf beside it" in r.stderr


# --- encode --distill ----------------------------------------------------------------------------
def test_encode_distill(corpus: Corpus, tmp_path: Path) -> None:
    """Encoding straight to the portable form equals encoding, then libbpf's distillation."""
    src = tmp_path / "mod"
    src.mkdir()
    shutil.copy(ENC_DATA / "enc_mod_basic.c", src)
    (src / "Makefile").write_text("obj-m := enc_mod_basic.o\n")
    kbuild = Path("/lib/modules") / (corpus.root / "release").read_text().strip() / "build"
    require(kbuild.exists(), f"{kbuild} missing: scripts/setup installs linux-headers-cloud-amd64")
    done = subprocess.run(["make", "-s", "-C", str(kbuild), f"M={src}", "modules"], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ko = src / "enc_mod_basic.ko"
    plain = tmp_path / "plain.btf"
    assert _run("encode", ko, "-B", corpus.vmlinux, "-o", plain).returncode == 0
    out = tmp_path / "portable.btf"
    r = _run("encode", ko, "-B", corpus.vmlinux, "--distill", "-o", out)
    assert r.returncode == 0, r.stderr
    base = load(corpus.vmlinux)
    with libbpf.parsed(to_bytes(base)) as lib_base:
        expected = libbpf.distill(plain.read_bytes(), lib_base)
    assert ((tmp_path / "portable.base.btf").read_bytes(), out.read_bytes()) == expected
    r = _run("encode", ko, "-B", corpus.vmlinux, "--distill", "--in-place")
    assert r.returncode == 0, r.stderr
    sections = btf_sections(ko.read_bytes(), str(ko))
    assert (sections.base_btf, sections.btf) == expected
    ours = subprocess.run([*BTFKIT, "dump", str(ko), "-B", str(corpus.vmlinux)], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert ours.stdout == _dump_bpftool(ko, corpus.vmlinux)
