"""drgn on BTF against drgn on DWARF, and the Volatility ISF, on Debian's newest 6.12 kernel.

* First ``prog.type("struct task_struct")`` in a fresh process: btfkit's finder on the
  image's vmlinux BTF (opening the BTF, then the look-up) beside drgn's own DWARF path on
  the -dbg vmlinux (``try_file``, then the look-up, which indexes the DWARF).
  Target: the finder's first look-up ≤ 0.5 s after opening the BTF, and no slower than drgn's.
* ``btfkit isf`` of that vmlinux with its System.map, whole process.  Target ≤ 10 s.
  (``dwarf2json``, its Go peer, is not packaged anywhere we install from: the target stands alone.)

Run: ``.venv/bin/python -m benchmarks.bench_drgn`` (downloads the packages on first use).
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
from pathlib import Path

from tests.debian_kernels import debug, image, releases

from .common import BTFKIT, PYTHON, best_of, report

REPEAT = 3

_BTF_SIDE = """
import sys, time
t0 = time.perf_counter()
import drgn, btfkit
from btfkit.integrations.drgn import attach
btf = btfkit.load(sys.argv[1])
t1 = time.perf_counter()
prog = drgn.Program(drgn.host_platform)
attach(prog, btf)
prog.type("struct task_struct")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

_DWARF_SIDE = """
import sys, time
t0 = time.perf_counter()
import drgn
prog = drgn.Program(drgn.host_platform)
prog.extra_module(sys.argv[1], create=True).try_file(sys.argv[1], force=True)
t1 = time.perf_counter()
prog.type("struct task_struct")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _fresh(code: str, path: Path) -> tuple[float, float]:
    """(open, first look-up) seconds of the best of REPEAT fresh processes (by their sum)."""
    runs = []
    for _ in range(REPEAT):
        out = subprocess.run([PYTHON, "-c", code, str(path)], check=True, capture_output=True, text=True).stdout
        opened, first = (float(x) for x in out.split())
        runs.append((opened, first))
    return min(runs, key=sum)


def main() -> None:
    release = releases("6.12")[-1]
    vmlinux, dbg = image(release).vmlinux, debug(release)
    print(f"{release}: BTF from {vmlinux.name} of the image, DWARF from the -dbg vmlinux")
    btf_open, btf_first = _fresh(_BTF_SIDE, vmlinux)
    dwarf_open, dwarf_first = _fresh(_DWARF_SIDE, dbg.vmlinux)
    report("first struct task_struct (look-up)", btf_first, dwarf_first, "drgn DWARF", target=1)
    report("open + first look-up", btf_open + btf_first, dwarf_open + dwarf_first, "drgn DWARF", target=1)
    print(f"finder's first look-up target ≤ 0.5 s after opening: "
          f"{'met' if btf_first <= 0.5 else 'MISSED'} ({btf_first:.3f} s; opening took {btf_open:.3f} s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vmlinux.json.xz"
        cmd = [*BTFKIT, "isf", str(vmlinux), "--system-map", str(dbg.system_map), "-o", str(out)]
        seconds = best_of(lambda: subprocess.run(cmd, check=True), REPEAT)
        cpu = min(_child_cpu(cmd) for _ in range(REPEAT))
        print(f"btfkit isf (vmlinux + System.map -> .json.xz): {seconds:.2f} s wall, {cpu:.2f} s CPU "
              f"(target ≤ 10 s: {'met' if seconds <= 10 else 'MISSED'}), {out.stat().st_size / 1e6:.1f} MB")  # fmt: skip


def _child_cpu(cmd: list[str]) -> float:
    """CPU seconds (user + system) of one run of ``cmd``: steady where other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


if __name__ == "__main__":
    main()
