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
from btfkit.core import resolve
from btfkit.core.minimize import min_core_btf
from btfkit.errors import BTFError
from btfkit.format.reader import load

from .conftest import Corpus, require, tool
from .core_selftests import Case, cases, objects


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
    for prog in [*([p] for p in progs), progs]:
        ok = _bpftool(corpus.vmlinux, theirs, prog)
        if not ok:
            with pytest.raises(BTFError):
                min_core_btf(corpus.vmlinux, ours, prog)
            continue
        assert main(["min-core-btf", str(corpus.vmlinux), str(ours), *map(str, prog)]) == 0
        assert ours.read_bytes() == theirs.read_bytes(), prog


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
