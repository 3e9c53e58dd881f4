"""Dedup speed: btfkit vs libbpf 1.1.2 (ctypes), side by side in one run.

1. A whole module tree against vmlinux: ``btfkit dedup -B vmlinux MODULES -o DIR``
   (base indexed once, all CPUs) vs libbpf called once per module (parse the
   module on the parsed vmlinux, ``btf__dedup``, write the result).  Target ≤ 0.3×.
2. vmlinux re-deduplicated.  Target ≤ 10×.
3. A large undeduplicated input: the standalone BTFs of many modules (each the
   module plus the base types it needs) concatenated.  Target ≤ 10×; peak memory
   of each side is measured in a fresh process.

Run: ``.venv/bin/python -m benchmarks.bench_dedup [--modules N] [--large N] [--only PART]``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import btfkit
from btfkit.format.elf import btf_sections
from btfkit.transforms.dedup import dedup
from btfkit.transforms.merge import concat, standalone
from btfkit.transforms.modtree import dedup_modules, find_modules

from .common import CORPUS, PYTHON, best_of, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import libbpf_oracle


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _peak_rss_mb(code: str) -> float:
    """Peak RSS (VmHWM, MiB) of a fresh Python process running ``code``.

    Read from /proc, which starts afresh at exec: ``ru_maxrss`` would also count
    the memory of this (forking) process.
    """
    probe = "\nprint([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    out = subprocess.run([PYTHON, "-c", code + probe], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def bench_tree(limit: int | None) -> None:
    modules = find_modules([CORPUS / "modules"])[:limit]
    with tempfile.TemporaryDirectory(dir="/dev/shm") as ours_dir, tempfile.TemporaryDirectory(dir="/dev/shm") as lib_dir:
        t, c, cc = time.perf_counter(), time.process_time(), _children_cpu()
        base = btfkit.load(CORPUS / "vmlinux")
        results = dedup_modules(base, modules, ours_dir)
        ours = time.perf_counter() - t
        ours_cpu = time.process_time() - c + _children_cpu() - cc
        assert not [r for r in results if r.error]

        lib = libbpf_oracle.lib
        assert lib is not None
        t, c = time.perf_counter(), time.process_time()
        lbase = lib.btf__parse_split(str(CORPUS / "vmlinux").encode(), None)
        for path, name in modules:
            btf = lib.btf__parse_split(str(path).encode(), lbase)
            libbpf_oracle.dedup_in_place(btf)
            target = Path(lib_dir) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(libbpf_oracle.raw_data(btf))
            lib.btf__free(btf)
        lib.btf__free(lbase)
        theirs = time.perf_counter() - t
        theirs_cpu = time.process_time() - c
        same = sum((Path(ours_dir) / n).read_bytes() == (Path(lib_dir) / n).read_bytes() for _, n in modules)
    print(f"module tree: {len(modules)} modules, {os.cpu_count()} CPUs, identical outputs: {same}/{len(modules)}")
    report("module tree vs vmlinux (wall)", ours, theirs, "libbpf", 0.3)
    report("module tree vs vmlinux (CPU time)", ours_cpu, theirs_cpu, "libbpf")
    print("  (wall time needs both CPUs free; CPU time / 2 is the wall time on an idle 2-CPU machine)")


def _side_by_side(what: str, ours: Callable[[], object], theirs: Callable[[], object], target: float) -> None:
    report(f"{what} (wall)", best_of(ours, 3), best_of(theirs, 3), "libbpf", target)
    report(f"{what} (CPU time)", best_of(ours, 3, time.process_time), best_of(theirs, 3, time.process_time), "libbpf", target)


def bench_vmlinux() -> None:
    raw = btf_sections((CORPUS / "vmlinux").read_bytes(), "vmlinux").btf
    _side_by_side("vmlinux dedup", lambda: dedup(btfkit.parse(raw)), lambda: libbpf_oracle.dedup(raw), 10)


def bench_large(count: int) -> None:
    base = btfkit.load(CORPUS / "vmlinux")
    picked = btfkit_modules = sorted((CORPUS / "modules").rglob("*.ko"))[:: max(1, 1121 // count)][:count]
    alone = [standalone(btfkit.load(p, base)) for p in btfkit_modules]
    raw = btfkit.to_bytes(concat(alone))
    n_types = sum(map(len, alone))
    with tempfile.NamedTemporaryFile(dir="/dev/shm", suffix=".btf") as f:
        f.write(raw)
        f.flush()
        code_ours = f"import btfkit\nfrom btfkit.transforms.dedup import dedup\ndedup(btfkit.parse(open({f.name!r}, 'rb').read()))"
        code_lib = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
                    f"from tests import libbpf_oracle\nlibbpf_oracle.dedup(open({f.name!r}, 'rb').read())")  # fmt: skip
        base_rss = _peak_rss_mb("import btfkit")
        rss_ours, rss_lib = _peak_rss_mb(code_ours), _peak_rss_mb(code_lib)
    print(f"large input: {len(picked)} standalone modules concatenated, {n_types} types, {len(raw)} bytes")
    _side_by_side("large input", lambda: dedup(btfkit.parse(raw)), lambda: libbpf_oracle.dedup(raw), 10)
    print(f"  peak RSS: btfkit {rss_ours:.0f} MiB, libbpf {rss_lib:.0f} MiB (python alone {base_rss:.0f} MiB)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--modules", type=int, help="only the first N modules for the tree benchmark")
    p.add_argument("--large", type=int, default=60, help="modules in the large input (default 60)")
    p.add_argument("--only", choices=["tree", "vmlinux", "large"], action="append",
                   help="run only this part (repeatable; default: all three)")  # fmt: skip
    args = p.parse_args()
    parts = args.only or ["tree", "vmlinux", "large"]
    if libbpf_oracle.lib is None:
        sys.exit("libbpf.so.1 is not installed")
    libbpf_oracle.lib.btf__parse_split.restype = ctypes.c_void_p
    print(f"python {PYTHON}")
    if "tree" in parts:
        bench_tree(args.modules)
    if "vmlinux" in parts:
        bench_vmlinux()
    if "large" in parts:
        bench_large(args.large)


if __name__ == "__main__":
    main()
