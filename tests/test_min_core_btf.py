"""``btfkit min-core-btf`` against ``bpftool gen min_core_btf`` (bpftool 7.1): the same bytes.

Run as the kernel's selftests run it (each program with its table's target
BTF; and failing where bpftool fails), every selftest program
against a real vmlinux (an ELF: most give bpftool's empty-but-valid BTF), and
all programs at once.  The module extension (split BTF per module) has no
bpftool peer: its output must load over the minimized vmlinux and resolve the
relocations as the full BTFs do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from btfkit.cli.app import main
from btfkit.core import Target, resolve
from btfkit.core.minimize import min_core_btf
from btfkit.errors import BTFError
from btfkit.format.reader import load

from . import core_oracle, core_real, core_testmod, debian_kernels, libbpf_oracle
from .conftest import Corpus, require, tool
from .core_selftests import Case, cases, objects
from .test_core import compare


def _bpftool(vmlinux: Path, out: Path, progs: list[Path]) -> bool:
    done = subprocess.run([tool("bpftool"), "gen", "min_core_btf", str(vmlinux), str(out), *map(str, progs)],
                          capture_output=True, check=False)  # fmt: skip
    return done.returncode == 0


def _params() -> list[Case]:
    try:
        return [c for c in cases() if c.target is not None]
    except BaseException:  # the tree is not there: one placeholder case reports why
        return [Case("<corpus missing>", "", None, fails=False, btfgen_fails=False)]


@pytest.mark.parametrize("case", _params(), ids=lambda c: c.name)
def test_selftest_pairing(case: Case, tmp_path: Path) -> None:
    require(case.program != "", "the linux-source tree is not available")
    assert case.target is not None
    d = objects()
    prog, target = d / case.program, d / case.target
    theirs, ours = tmp_path / "bpftool.btf", tmp_path / "btfkit.btf"
    # (The table's run_btfgen_fails marks cases its btfgen run skips, not bpftool failures.)
    if not _bpftool(target, theirs, [prog]):
        with pytest.raises(BTFError):
            min_core_btf(target, ours, [prog])
        return
    min_core_btf(target, ours, [prog])
    assert ours.read_bytes() == theirs.read_bytes()


def test_every_program_on_a_real_kernel(corpus: Corpus, tmp_path: Path) -> None:
    """Each selftest program alone, then all together, against the corpus's ELF vmlinux."""
    progs = sorted(objects().glob("test_core_reloc_*.bpf.o"))
    theirs, ours = tmp_path / "bpftool.btf", tmp_path / "btfkit.btf"
    vmlinux = Target(corpus.base)  # read once: each program alone goes through the library
    for prog in [[p] for p in progs]:
        if not _bpftool(corpus.vmlinux, theirs, prog):
            with pytest.raises(BTFError):
                min_core_btf(vmlinux, ours, prog)
            continue
        min_core_btf(vmlinux, ours, prog)
        assert ours.read_bytes() == theirs.read_bytes(), prog
    # All at once, through the command line (which reads the ELF vmlinux itself).
    assert _bpftool(corpus.vmlinux, theirs, progs)
    assert main(["min-core-btf", str(corpus.vmlinux), str(ours), *map(str, progs)]) == 0
    assert ours.read_bytes() == theirs.read_bytes()


# Three kernels unlike the corpus's own: the newest of each line and flavour in the archive.
REAL_KERNELS = [("6.1", "cloud-amd64"), ("6.12", "amd64"), ("6.12", "cloud-amd64")]


@pytest.mark.parametrize(("line", "flavour"), REAL_KERNELS, ids=lambda x: x)
def test_real_programs(line: str, flavour: str, tmp_path: Path) -> None:
    """Debian's libbpf-tools programs on a real kernel: bpftool's bytes, alone and all at once.

    And the minimized BTF is what the programs need: each relocation resolves on it
    as on the whole kernel.
    """
    vmlinux_file = debian_kernels.image(debian_kernels.releases(line, flavour)[-1]).vmlinux
    progs = core_real.programs()
    vmlinux = Target(load(vmlinux_file))  # read once for every program
    theirs, ours = tmp_path / "bpftool.btf", tmp_path / "btfkit.btf"
    for prog in progs:
        if not _bpftool(vmlinux_file, theirs, [prog]):
            with pytest.raises(BTFError):
                min_core_btf(vmlinux, ours, [prog])
            continue
        min_core_btf(vmlinux, ours, [prog])
        assert ours.read_bytes() == theirs.read_bytes(), prog.name
        small = load(ours)
        assert [(r.value, r.poisoned) for r in resolve(prog, small).relocations] == [
            (r.value, r.poisoned) for r in resolve(prog, vmlinux).relocations
        ], prog.name
    assert _bpftool(vmlinux_file, theirs, progs)
    assert main(["min-core-btf", str(vmlinux_file), str(ours), *map(str, progs)]) == 0
    assert ours.read_bytes() == theirs.read_bytes()
    assert len(load(ours)) > 100  # the programs do touch many kernel types


def test_minimized_still_resolves(tmp_path: Path) -> None:
    """The relocations resolve on the minimized BTF exactly as on the full one."""
    d = objects()
    prog, target = d / "test_core_reloc_kernel.bpf.o", Path("/sys/kernel/btf/vmlinux")
    require(target.exists(), "no /sys/kernel/btf/vmlinux")
    out = tmp_path / "min.btf"
    min_core_btf(target, out, [prog])
    full, small = resolve(prog, target), resolve(prog, out)
    assert [(r.value, r.poisoned, r.error) for r in small.relocations] == [
        (r.value, r.poisoned, r.error) for r in full.relocations
    ]
    assert len(load(out)) < len(load(target)) / 100


MODULE_PROG = r"""
struct xfs_sb { unsigned int sb_blocksize; unsigned long long sb_dblocks; } __attribute__((preserve_access_index));
struct xfs_mount { struct xfs_sb m_sb; void *m_super; char *m_logname; } __attribute__((preserve_access_index));
struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));

__attribute__((section("kprobe/xfs_fs_sync_fs"), used))
int prog(struct xfs_mount *mp, struct task_struct *t)
{
	return mp->m_sb.sb_blocksize + mp->m_sb.sb_dblocks + (long)mp->m_logname + t->tgid;
}
"""


def _pahole_offsets(corpus: Corpus, module: Path, struct: str) -> dict[str, int]:
    """Member byte offsets of ``struct`` in a module, as pahole reads the module's BTF over vmlinux."""
    out = subprocess.run(
        [tool("pahole"), "-F", "btf", "--btf_base", str(corpus.vmlinux), "-C", struct, str(module)],
        capture_output=True, text=True, check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        if "/*" in line and ";" in line:
            name = line.split(";")[0].split()[-1].lstrip("*")
            found[name] = int(line.split("/*")[1].split()[0].rstrip(":"))
    return found


def test_module_relocations(corpus: Corpus, tmp_path: Path) -> None:
    """Relocations against module types: resolved in the module (vmlinux has no candidate), minimized per module."""
    module = next((m for m in corpus.modules if m.name == "xfs.ko"), None)
    require(module is not None, "the corpus has no xfs module")
    assert module is not None
    src = tmp_path / "mod.c"
    src.write_text(MODULE_PROG)
    prog = tmp_path / "mod.o"
    subprocess.run([tool("clang-19"), "-g", "-O2", "-target", "bpfel", "-c", str(src), "-o", str(prog)], check=True)

    full = resolve(prog, Target(corpus.base), [module])
    assert not full.fails
    by_what = {r.what: r for r in full.relocations}
    mount, sb = _pahole_offsets(corpus, module, "xfs_mount"), _pahole_offsets(corpus, module, "xfs_sb")
    assert by_what["struct xfs_mount.m_logname (0:2)"].value == mount["m_logname"]
    assert by_what["struct xfs_mount.m_sb.sb_dblocks (0:0:1)"].value == mount["m_sb"] + sb["sb_dblocks"]
    assert {r.chosen.target for r in full.relocations if r.chosen} == {"vmlinux", "xfs"}

    out = tmp_path / "min.btf"
    assert main(["min-core-btf", str(corpus.vmlinux), str(out), str(prog), "--module", str(module)]) == 0
    split_path = tmp_path / "min.btf.xfs"
    # The split loads over the minimized vmlinux, in btfkit and in libbpf.
    base = load(out)
    split = load(split_path, base)
    assert split.start_id == base.type_count and len(split) > 0
    with (
        libbpf_oracle.parsed(out.read_bytes()) as lib_base,
        libbpf_oracle.parsed(split_path.read_bytes(), lib_base) as lib_split,
    ):
        assert libbpf_oracle.lib is not None
        assert libbpf_oracle.lib.btf__type_cnt(lib_split) == split.type_count
    small = resolve(prog, base, [Target(split, "xfs")])
    assert [(r.value, r.poisoned) for r in small.relocations] == [(r.value, r.poisoned) for r in full.relocations]


def test_bpf_testmod_program(tmp_path: Path) -> None:
    """core_reloc.c's module program with ``--module bpf_testmod``: the minimized split BTF loads
    over the minimized vmlinux (btfkit and libbpf) and resolves as the full BTFs do, in btfkit
    and in libbpf (given both minimized BTFs as one)."""
    tm = core_testmod.testmod()
    ko = core_testmod.with_btfkit_btf(tm, tmp_path / "module")
    full = resolve(tm.program, tm.vmlinux, [ko])
    assert not full.fails

    out = tmp_path / "min.btf"
    assert main(["min-core-btf", str(tm.vmlinux), str(out), str(tm.program), "--module", str(ko)]) == 0
    split_path = tmp_path / f"min.btf.{core_testmod.MODULE}"
    base = load(out)
    split = load(split_path, base)
    assert split.start_id == base.type_count
    (kept,) = split.find_all("bpf_testmod_test_read_ctx")
    assert kept.id >= split.start_id  # in the module's split, not the base
    with (
        libbpf_oracle.parsed(out.read_bytes()) as lib_base,
        libbpf_oracle.parsed(split_path.read_bytes(), lib_base) as lib_split,
    ):
        assert libbpf_oracle.lib is not None
        assert libbpf_oracle.lib.btf__type_cnt(lib_split) == split.type_count

    small = resolve(tm.program, base, [Target(split, core_testmod.MODULE)])
    assert [(r.value, r.poisoned, r.chosen and r.chosen.target) for r in small.relocations] == [
        (r.value, r.poisoned, r.chosen and r.chosen.target) for r in full.relocations
    ]
    flat = tmp_path / "min-flat.btf"
    flat.write_bytes(core_testmod.flat(out.read_bytes(), split_path.read_bytes()))
    assert compare(small, core_oracle.run(tm.program, flat)) == len(small.relocations)
