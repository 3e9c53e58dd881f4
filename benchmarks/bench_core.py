"""CO-RE speed, side by side with the C tools.

1. ``btfkit min-core-btf`` of 20 programs in one call vs 20 ``bpftool gen
   min_core_btf`` calls (bpftool takes one program per run; btfkit reads the
   vmlinux once and each program once, Python's start-up included).  Target ≤ 3×.
2. ``btfkit core check`` of one program on N kernels (one process, kernels on all
   CPUs) vs N libbpf 1.5 opens + loads with ``btf_custom_path`` (ctypes, in this
   process: libbpf relocates at load).  Target ≤ 0.5×.  Kernels: the ELF vmlinux of
   each kernel package tests/debian_kernels.py has unpacked in the cache, newest
   first (``--fetch`` downloads 6.12 releases until there are N).

Programs: the kernel's CO-RE selftests (``tests/core_selftests.py`` builds and
caches them); kernel for part 1: the corpus's ELF vmlinux.

Run: ``.venv/bin/python -m benchmarks.bench_core [--kernels N] [--fetch]``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
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

def _kernels(count: int, fetch: bool) -> list[Path]:
    from tests import debian_kernels  # noqa: PLC0415

    if fetch:
        for release in reversed(debian_kernels.releases("6.12")[-count:]):
            debian_kernels.image(release).vmlinux  # noqa: B018 (downloads and unpacks)
    found = sorted(debian_kernels.cache_root().glob("linux-image-*/vmlinux"), reverse=True)
    return found[:count]


def bench_check(count: int, fetch: bool) -> None:
    from tests import core_oracle  # noqa: PLC0415

    kernels = _kernels(count, fetch)
    if not kernels:
        print("core check: no unpacked kernel package in the cache (use --fetch)")
        return
    prog = objects() / "test_core_reloc_kernel.bpf.o"

    def theirs() -> None:
        for k in kernels:
            core_oracle.run(prog, k)

    cmd = [*BTFKIT, "core", "check", str(prog), *map(str, kernels)]
    peer = best_of(theirs, repeat=2)
    ours = run_best_of(cmd, repeat=2)
    report(f"core check, 1 program x {len(kernels)} kernels", ours, peer, f"{len(kernels)}× libbpf", target=0.5)
    # CPU time too: on a busy machine the wall clock mostly measures the other tenants.
    peer_cpu = best_of(theirs, repeat=2, clock=time.process_time)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    report("  same, CPU seconds (all processes)", ours_cpu, peer_cpu, f"{len(kernels)}× libbpf", target=0.5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=20)
    parser.add_argument("--fetch", action="store_true")
    opts = parser.parse_args()
    bench_min_core_btf()
    bench_check(opts.kernels, opts.fetch)
