"""CO-RE speed: ``btfkit min-core-btf`` of 20 programs in one call vs 20 ``bpftool gen min_core_btf`` calls.

bpftool takes one program per run, and a run costs little more than reading
the kernel's BTF; btfkit reads the vmlinux once and each program once, in one
process (Python's start-up included).  Target ≤ 3×.

Programs: the kernel's CO-RE selftests (``tests/core_selftests.py`` builds and
caches them); kernel: the corpus's ELF vmlinux.

Run: ``.venv/bin/python -m benchmarks.bench_core``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import BTFKIT, CORPUS, best_of, report, run_best_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.core_selftests import objects


def bench_min_core_btf(count: int = 20) -> None:
    d = objects()
    # The programs first, then target-type objects (with a .BTF.ext but no relocations) to make up the count.
    progs = sorted(d.glob("test_core_reloc_*.bpf.o")) + sorted(d.glob("btf__core_reloc_*.bpf.o"))
    progs = progs[:count]
    vmlinux = CORPUS / "vmlinux"
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "min.btf"

        def theirs() -> None:
            for p in progs:
                subprocess.run([bpftool, "gen", "min_core_btf", str(vmlinux), str(out), str(p)],
                               check=True, stdout=subprocess.DEVNULL)  # fmt: skip

        peer = best_of(theirs, repeat=3)
        ours = run_best_of([*BTFKIT, "min-core-btf", str(vmlinux), str(out), *map(str, progs)], repeat=3)
    report(f"min-core-btf, {len(progs)} programs", ours, peer, f"{len(progs)}× bpftool", target=3)

if __name__ == "__main__":
    bench_min_core_btf()
