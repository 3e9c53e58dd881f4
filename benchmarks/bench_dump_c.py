"""vmlinux to C (``vmlinux.h``): btfkit vs bpftool 7.1, side by side.

* whole process into a file, best of N: ``btfkit dump FILE -f c > out`` against
  ``bpftool btf dump file FILE format c > out``, in wall time and in CPU time
  (user + system; steadier on a busy machine);
* in-process, best of N in CPU time: ``btfkit.load`` + ``dump_c`` (no interpreter
  start-up), and ``dump_c`` alone on an already loaded BTF (whose references are
  checked already), against bpftool's CPU time;
* one module over the corpus vmlinux (whole process, ``-B``), when the corpus is there.

Target: vmlinux to C ≤ 3× bpftool.
Run: ``.venv/bin/python -m benchmarks.bench_dump_c [FILE]`` (default
/sys/kernel/btf/vmlinux, else the corpus vmlinux).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import btfkit
from btfkit.outputs.c import dump_c

from .common import BTFKIT, CORPUS, best_of, report, run_to_file_best_of

REPEAT = 7


def run_to_file_cpu_best_of(cmd: Sequence[str], out: Path, repeat: int) -> float:
    """The least CPU time (user + system) of ``repeat`` whole-process runs into ``out``."""
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with out.open("wb") as f:
            subprocess.run(cmd, check=True, stdout=f)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return best


def main() -> None:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    sysfs = Path("/sys/kernel/btf/vmlinux")
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else sysfs if sysfs.exists() else CORPUS / "vmlinux"
    btf = btfkit.load(path)
    print(f"{path}: {len(btf)} types\n")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vmlinux.h"
        theirs_cmd = [bpftool, "btf", "dump", "file", str(path), "format", "c"]
        ours_cmd = [*BTFKIT, "dump", str(path), "-f", "c"]
        theirs = run_to_file_best_of(theirs_cmd, out, REPEAT)
        expected = out.read_bytes()
        ours = run_to_file_best_of(ours_cmd, out, REPEAT)
        assert out.read_bytes() == expected, "btfkit's header differs from bpftool's"
        report("vmlinux to C > file (whole process)", ours, theirs, "bpftool", target=3)
        theirs_cpu = run_to_file_cpu_best_of(theirs_cmd, out, REPEAT)
        report("  the same in CPU time", run_to_file_cpu_best_of(ours_cmd, out, REPEAT), theirs_cpu, "bpftool")
        cpu = time.process_time
        report("  load + dump_c (in-process, CPU)", best_of(lambda: dump_c(btfkit.load(path)), REPEAT, cpu),
               theirs_cpu, "bpftool")  # fmt: skip
        report("  dump_c of a loaded BTF (in-process, CPU)", best_of(lambda: dump_c(btf), REPEAT, cpu),
               theirs_cpu, "bpftool")  # fmt: skip

        vmlinux = CORPUS / "vmlinux"
        modules = sorted((CORPUS / "modules").rglob("*.ko")) if vmlinux.exists() else []
        if modules:
            module = max(modules[:200], key=lambda m: m.stat().st_size)
            theirs = run_to_file_best_of([bpftool, "-B", str(vmlinux), "btf", "dump", "file",
                                          str(module), "format", "c"], out, REPEAT)  # fmt: skip
            expected = out.read_bytes()
            ours = run_to_file_best_of([*BTFKIT, "dump", str(module), "-B", str(vmlinux), "-f", "c"], out, REPEAT)
            assert out.read_bytes() == expected, "btfkit's module header differs from bpftool's"
            report(f"module {module.name} to C (whole process)", ours, theirs, "bpftool")
            base = btfkit.load(vmlinux)
            mods = [btfkit.load(m, base) for m in modules[:50]]
            dump_c(mods[0])  # the first module pays for the base's part once

            def fifty() -> None:
                for m in mods:
                    dump_c(m)

            per = best_of(fifty, 3) / len(mods)
            print(f"  {'later modules over one loaded base':<38} btfkit {per * 1000:9.1f} ms each "
                  "(the base's part of the header is reused)")  # fmt: skip


if __name__ == "__main__":
    main()
