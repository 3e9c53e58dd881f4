"""Portable module BTF speed: btfkit vs libbpf 1.5 (ctypes, built from Debian's linux-source-6.12).

1. Relocation of a whole distilled module tree onto vmlinux: ``btfkit relocate DIR -B vmlinux``
   as one library call (vmlinux read and indexed once, all CPUs, files written) vs libbpf
   once per module (parse the distilled base and the split, ``btf__relocate`` onto the
   parsed vmlinux, write the result).  Target ≤ 0.5×.
2. Distillation of the same tree (``btfkit distill``) vs ``btf__distill_base`` per module.

The tree is the corpus kernel's modules (scripts/fetch-corpus), distilled by btfkit first.
Run: ``.venv/bin/python -m benchmarks.bench_relocate [--modules N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import btfkit
from btfkit.sources.portable import (
    distill_modules,
    distilled_base_name,
    find_relocatable,
    relocate_modules,
)
from btfkit.transforms.modtree import find_modules, write_output

from .common import CORPUS, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import libbpf15_oracle as libbpf


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time() + _children_cpu()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clocks()
    return wall - start[0], cpu - start[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", type=int, help="only the first N modules")
    args = ap.parse_args()
    modules = find_modules([CORPUS / "modules"])[: args.modules]
    vmlinux = CORPUS / "vmlinux"
    libbpf.lib()  # build/load it before timing
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        distilled, ours_dir, lib_dir = Path(tmp, "d"), Path(tmp, "ours"), Path(tmp, "lib")
        # -- distill: one btfkit call for the tree vs btf__distill_base per module ---------
        start = _clocks()
        results = distill_modules(btfkit.load(vmlinux), modules, distilled)
        d_ours = _since(start)
        assert not [r for r in results if r.error]
        start = _clocks()
        with libbpf.parsed_file(vmlinux) as lbase:
            for path, name in modules:
                dist, split = libbpf.distill(path, lbase)
                write_output(lib_dir, name, split)
                write_output(lib_dir, distilled_base_name(name), dist)
        d_lib = _since(start)
        d_same = sum((distilled / n).read_bytes() == (lib_dir / n).read_bytes() for _, n in modules)
        # -- relocate: one btfkit call for the tree vs btf__relocate per module ------------
        inputs = find_relocatable([distilled])
        start = _clocks()
        results = relocate_modules(btfkit.load(vmlinux), inputs, ours_dir)
        r_ours = _since(start)
        assert not [r for r in results if r.error]
        start = _clocks()
        with libbpf.parsed_file(vmlinux) as lbase:
            for path, name in inputs:
                moved = libbpf.relocate(path.read_bytes(), path.with_name(distilled_base_name(path.name)).read_bytes(),
                                        lbase)  # fmt: skip
                write_output(lib_dir, name, moved)
        r_lib = _since(start)
        r_same = sum((ours_dir / n).read_bytes() == (lib_dir / n).read_bytes() for _, n in inputs)
    print(f"{len(modules)} modules of {CORPUS.name}, {os.cpu_count()} CPUs; outputs identical to libbpf's: "
          f"distilled {d_same}/{len(modules)}, relocated {r_same}/{len(inputs)}")
    report("relocate tree (wall)", r_ours[0], r_lib[0], "libbpf", 0.5)
    report("relocate tree (CPU time)", r_ours[1], r_lib[1], "libbpf")
    report("distill tree (wall)", d_ours[0], d_lib[0], "libbpf")
    report("distill tree (CPU time)", d_ours[1], d_lib[1], "libbpf")
    print("  (both sides include reading vmlinux and writing the files.  Wall time needs both CPUs\n"
          "   free; CPU time / 2 is the wall time on an idle 2-CPU machine)")


if __name__ == "__main__":
    main()
