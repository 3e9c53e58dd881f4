"""CO-RE relocation resolution against the kernel's own selftests, with libbpf 1.5 as the oracle.

Every pairing of ``prog_tests/core_reloc.c``'s table (program x target BTF) is
resolved by btfkit and by libbpf (``btf_custom_path``, debug log parsed):
the outcome must be the table's (loads / fails), and each relocation libbpf
logs must agree with btfkit: the local spec, the matching candidates and
their specs, the patch (instruction, old and new value), a poisoning, or a
failure.  The table's module rows (the program on a kernel with bpf_testmod loaded) run
on Debian's 6.12 cloud kernel and bpf_testmod built against its headers
(:mod:`tests.core_testmod`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import btfkit
from btfkit.cli.app import main
from btfkit.core import Target, resolve
from btfkit.core.resolve import CoreResult
from btfkit.format.build import Builder

from . import core_oracle, core_testmod
from .conftest import SYS_VMLINUX, Corpus, require, tool
from .core_selftests import Case, cases, objects


def _with_target(case: Case) -> bool:
    return case.target is not None


def _params() -> list[Case]:
    try:
        return [c for c in cases() if _with_target(c)]
    except BaseException:  # the tree is not there: one placeholder case reports why
        return [Case("<corpus missing>", "", None, fails=False, btfgen_fails=False)]


def compare(ours: CoreResult, theirs: core_oracle.Run, program: str | None = None) -> int:
    """Assert that every relocation libbpf logged went the same way in btfkit; returns how many were compared.

    With ``program``, only that program's relocations are compared (and its failure alone counts).
    """
    by_key = {(r.section, r.index): r for r in ours.relocations if program in (None, r.program)}
    logged = {key: r for key, r in theirs.relos.items() if program in (None, r.program)}
    assert set(logged) <= set(by_key), "libbpf logged relocations btfkit does not have"
    for key, relo in logged.items():
        mine = by_key[key]
        where = f"{key}: {mine.what}"
        assert mine.program == relo.program, where
        if relo.spec:
            assert mine.local_spec == relo.spec, where
        matched = [c for c in mine.candidates if c.matched]
        if not relo.failed:
            assert [c.type_id for c in matched] == relo.matched, where
            assert [c.spec for c in matched] == relo.matched_specs, where
        patched = [p for p in mine.patch if p.startswith("patched")]
        theirs_patched = [f"patched insn #{mine.prog_insn} ({w.split()[0]}) {w.split()[1]} {a} -> {b}"
                          for w, a, b in relo.patched]  # fmt: skip
        assert patched == theirs_patched, where
        assert mine.poisoned == relo.poisoned, where
        assert (mine.error is not None) == relo.failed, f"{where}: {mine.error}"
    failed = theirs.relocation_failed if program is None else any(r.failed for r in logged.values())
    errors = [r.error for r in by_key.values() if r.error]
    assert bool(errors) == failed, errors
    return len(logged)


@pytest.mark.parametrize("case", _params(), ids=lambda c: c.name)
def test_selftest_pairing(case: Case) -> None:
    require(case.program != "", "the linux-source tree is not available")
    d = objects()
    assert case.target is not None
    prog, target = d / case.program, d / case.target
    ours = resolve(prog, target)
    assert ours.fails == case.fails, [(r.what, r.error, r.poisoned) for r in ours.relocations if r.fails]
    assert compare(ours, core_oracle.run(prog, target)) > 0


def test_table_is_read_whole() -> None:
    """The table has every program and its error cases (a guard on the preprocessor-based reading)."""
    table = cases()
    assert len(table) > 70
    programs = {c.program for c in table}
    assert len(programs) >= 17
    assert sum(c.fails for c in table) > 15


@pytest.fixture(scope="module")
def kernel_targets(corpus: Corpus) -> list[Path]:
    found = [corpus.vmlinux]
    if SYS_VMLINUX.exists():
        found.append(SYS_VMLINUX)
    return found


def test_kernel_program(kernel_targets: list[Path]) -> None:
    """``test_core_reloc_kernel`` (task_struct and friends) on real kernels: loads, with libbpf's values."""
    prog = objects() / "test_core_reloc_kernel.bpf.o"
    for target in kernel_targets:
        ours = resolve(prog, target)
        assert not ours.fails, [(r.what, r.error) for r in ours.relocations if r.fails]
        assert compare(ours, core_oracle.run(prog, target)) > 20


def _module_params() -> list[Case]:
    try:
        return [c for c in cases() if c.program == f"{core_testmod.PROGRAM}.bpf.o"]
    except BaseException:  # the tree is not there: one placeholder case reports why
        return [Case("<corpus missing>", "", None, fails=False, btfgen_fails=False)]


@pytest.fixture(scope="module")
def bpf_testmod(tmp_path_factory: pytest.TempPathFactory) -> tuple[core_testmod.Testmod, Path, Path]:
    """The built module with btfkit's BTF, and one standalone BTF of vmlinux + pahole's module BTF for libbpf."""
    tm = core_testmod.testmod()
    tmp = tmp_path_factory.mktemp("testmod")
    ko = core_testmod.with_btfkit_btf(tm, tmp)
    with open(tm.vmlinux, "rb") as f:
        vmlinux_btf = ELFFile(f).get_section_by_name(".BTF").data()
    flat = tmp / "vmlinux+bpf_testmod.btf"
    flat.write_bytes(core_testmod.flat(vmlinux_btf, tm.pahole_btf.read_bytes()))
    return tm, ko, flat


@pytest.mark.parametrize("case", _module_params(), ids=lambda c: c.name)
def test_module_pairing(case: Case, bpf_testmod: tuple[core_testmod.Testmod, Path, Path]) -> None:
    """The table's module rows: the program on Debian's 6.12 cloud kernel with bpf_testmod, its types found in the module.

    libbpf reads no module BTF with ``btf_custom_path``, so it is given vmlinux and the
    module as one BTF (same type IDs): its candidates are all "in vmlinux" there, while
    btfkit must find the module's struct in bpf_testmod and nowhere else.
    """
    require(case.program != "", "the linux-source tree is not available")
    tm, ko, flat = bpf_testmod
    ours = resolve(tm.program, tm.vmlinux, [ko])
    mine = [r for r in ours.relocations if r.program == case.prog_name]
    assert mine, case.prog_name
    assert any(r.fails for r in mine) == case.fails, [(r.what, r.error, r.poisoned) for r in mine if r.fails]
    module_struct = "bpf_testmod_test_read_ctx"
    assert not btfkit.load(tm.vmlinux).find_all(module_struct)  # only the module has it
    for r in mine:
        where = core_testmod.MODULE if module_struct in r.what else "vmlinux"
        assert r.chosen is not None and {c.target for c in r.candidates} == {where}, r.what
    assert any(module_struct in r.what for r in mine)
    assert compare(ours, core_oracle.run(tm.program, flat), program=case.prog_name) == len(mine)


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    d = objects()
    assert main(["core", str(d / "test_core_reloc_size.bpf.o"), "-B", str(d / "btf__core_reloc_size___diff_sz.bpf.o")]) == 0
    out = capsys.readouterr().out
    assert "relo #2 insn 6 (prog test_core_size insn 6): field_byte_size struct core_reloc_size.struct_field (0:1)" in out
    assert "-> [4] struct core_reloc_size___diff_sz.struct_field (0:1 @ offset 8)" in out
    assert "value 4 -> 12" in out
    failing = ["core", str(d / "test_core_reloc_size.bpf.o"), "-B", str(d / "btf__core_reloc_size___err_ambiguous.bpf.o")]
    assert main(failing) == 1
    out = capsys.readouterr().out
    assert "relocation decision ambiguity" in out


def test_check_matrix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``core check`` over the selftest programs x target BTFs: every cell the table has is as the table says."""
    d = objects()
    progs = sorted({c.program for c in cases() if c.target is not None})
    targets = sorted({c.target for c in cases() if c.target is not None})
    page = tmp_path / "matrix.html"
    args = ["core", "check", *(str(d / p) for p in progs), *(str(d / t) for t in targets if t)]
    assert main([*args, "--json", "--html", str(page), "--jobs", "2"]) == 1
    cells = {(Path(c["program"]).name, c["kernel"]): c for c in json.loads(capsys.readouterr().out)}
    assert len(cells) == len(progs) * len(targets)
    for case in cases():
        if case.target is not None:
            assert cells[case.program, case.target]["loads"] == (not case.fails), case.name
    text = page.read_text()
    assert text.count("<tr>") == len(progs) + 1
    assert 'class="fail" title="struct core_reloc_size.int_field (0:0): relocation decision ambiguity' in text


def test_check_real_kernels(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    """The kernel selftest program loads on real kernels; an unpacked package directory is one kernel."""
    prog = objects() / "test_core_reloc_kernel.bpf.o"
    kernels = [str(corpus.root)]
    if SYS_VMLINUX.exists():
        kernels.append(str(SYS_VMLINUX))
    assert main(["core", "check", str(prog), *kernels]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[1:] == ["ok"] * len(kernels)


GCC_PROG = r"""
struct inner { int x; unsigned short y[4]; };
struct s { long a; struct inner in; int b; };
__attribute__((section("kprobe/x"))) int f(struct s *p)
{
	return __builtin_preserve_access_index(p->in.y[2]) + __builtin_preserve_access_index(p->b);
}
char _license[] __attribute__((section("license"))) = "GPL";
"""
GCC_TARGET = r"""
struct inner { long pad; int x; unsigned short y[8]; };
struct s { int b; long a; struct inner in; };
void use(struct s *p) {}
"""


def test_gcc_object(tmp_path: Path) -> None:
    """A ``gcc -gbtf -mco-re`` object (Debian's gcc-bpf) resolves as libbpf resolves it, complaint included.

    (gcc 12 records both relocations on instruction 0, so libbpf refuses the first patch:
    btfkit must say the same.)
    """
    for name, text in (("prog.c", GCC_PROG), ("target.c", GCC_TARGET)):
        (tmp_path / name).write_text(text)
    prog, target = tmp_path / "prog.o", tmp_path / "target.o"
    subprocess.run([tool("bpf-gcc"), "-gbtf", "-O2", "-mco-re", "-c", str(tmp_path / "prog.c"), "-o", str(prog)],
                   check=True)  # fmt: skip
    subprocess.run([tool("clang-19"), "-g", "-O2", "-target", "bpfel", "-c", str(tmp_path / "target.c"),
                    "-o", str(target)], check=True)  # fmt: skip
    ours = resolve(prog, target)
    assert compare(ours, core_oracle.run(prog, target)) > 0
    assert [r.what for r in ours.relocations] == ["struct s.in.y[2] (0:1:1:2)", "struct s.b (0:2)"]


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    d = objects()
    prog, target = d / "test_core_reloc_existence.bpf.o", d / "btf__core_reloc_existence___minimal.bpf.o"
    assert main(["core", str(prog), "-B", str(target), "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    ours = resolve(prog, target)
    assert [(r["what"], r["value"], r["poisoned"], r["dead"]) for r in doc["relocations"]] == [
        (r.what, r.value, r.poisoned, r.dead) for r in ours.relocations
    ]
    # Guarded reads of missing fields: poisoned but never reached, so the program still loads.
    assert any(r["poisoned"] and r["dead"] and not r["fails"] for r in doc["relocations"])
    assert doc["fails"] is False


def test_candidate_named_by_a_splits_first_string() -> None:
    """A module type whose name is the split BTF's first string (no NUL of its own before it) is found."""
    b = Builder()
    int_id = b.add_int("int", 4)
    base = btfkit.parse(btfkit.to_bytes(b.btf))
    s = Builder(base=base)
    point = s.add_struct("point", 8, [("x", int_id, 0), ("y", int_id, 32)])
    split = btfkit.parse(btfkit.to_bytes(s.btf), base)
    assert bytes(split.strings.data).startswith(b"point\0")
    assert Target(split, "mod").ids_named("point") == [point]
    assert Target(base).ids_named("int") == [int_id]
