"""Kernel-to-kernel diff speed: ``btfkit diff OLD NEW`` on two vmlinux images.

There is no C tool that diffs kernels' BTF; the peer is what people do today:
``bpftool btf dump file X format c`` of both kernels and ``diff -u`` of the headers
(one shell pipeline, timed as a whole process like ours).  Target: btfkit ≤ 2 s.

OLD and NEW default to the oldest and newest 6.12 cloud kernels the Debian archive
holds (downloaded and unpacked into the cache by tests/debian_kernels.py); give two
paths to compare others.

Run: ``.venv/bin/python -m benchmarks.bench_diff [OLD NEW]``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
from pathlib import Path

from .common import BTFKIT, report, run_best_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.debian_kernels import image, releases


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="*", type=Path, help="OLD and NEW (default: two 6.12 releases)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.paths:
        old, new = args.paths
    else:
        found = releases("6.12")
        old, new = image(found[0]).vmlinux, image(found[-1]).vmlinux
    print(f"OLD {old}\nNEW {new}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = run_best_of([*BTFKIT, "diff", str(old), str(new)], args.repeat)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / args.repeat
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    pipeline = (
        f"diff -u <({bpftool} btf dump file {old} format c) <({bpftool} btf dump file {new} format c) "
        "> /dev/null; test $? -le 1"
    )
    theirs = run_best_of(["bash", "-c", pipeline], args.repeat)
    report("diff of two vmlinux", ours, theirs, "bpftool C x2 + diff -u")
    print(f"{'':<40} btfkit diff target ≤ 2 s: {'met' if ours <= 2 else 'MISSED'} ({ours:.2f} s wall; "
          f"{cpu:.2f} s CPU per run over both processes, for a busy machine)")


if __name__ == "__main__":
    main()
