"""Archive speed: ``btfkit archive PKG -o DIR`` for one kernel package, from its ``.BTF`` sections.

The peer is the shell loop one writes today for the same archive entry: unpack the
package (``dpkg-deb -x``), inflate the bzImage's vmlinux and take its ``.BTF`` with
``objcopy``, then for every module inflate it (``xz -d``) and take its ``.BTF`` with
``objcopy``, and pack it all with ``tar -cJf``.  Target: btfkit ≤ 0.5× the loop.

Both run on all CPUs: btfkit's archive of one kernel is one task (it streams the
package once), the loop runs its per-module steps through ``xargs -P``.

Run: ``.venv/bin/python -m benchmarks.bench_archive [PKG.deb]`` (default: the newest
6.12 cloud image package, downloaded into the cache by tests/debian_kernels.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .common import BTFKIT, report, run_best_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.debian_kernels import image_deb, releases

_LOOP = r"""
set -e
deb=$1 out=$2
work=$(mktemp -d -p "$out")
dpkg-deb -x "$deb" "$work/root"
image=$(ls "$work"/root/boot/vmlinuz-*)
release=${image##*/vmlinuz-}
mkdir -p "$work/$release/modules"
# The bzImage's payload (zstd/xz/gzip) at the offset its setup header gives, as extract-vmlinux does.
python3 - "$image" "$work/vmlinux" <<'EOF'
import struct, subprocess, sys
data = open(sys.argv[1], 'rb').read()
setup = (data[0x1F1] or 4) + 1
off, length = struct.unpack_from('<II', data, 0x248)
payload = data[setup * 512 + off: setup * 512 + off + length]
tool = {b'\x28\xb5\x2f\xfd': 'zstd', b'\xfd7zXZ': 'xz', b'\x1f\x8b': 'gzip'}[payload[:4] if payload[:2] != b'\x1f\x8b' else b'\x1f\x8b']
with open(sys.argv[2], 'wb') as f:
    subprocess.run([tool, '-dc'], input=payload, stdout=f, stderr=subprocess.DEVNULL)
EOF
objcopy -O binary --only-section=.BTF "$work/vmlinux" "$work/$release.btf"
export work release
find "$work/root/lib/modules" -name '*.ko*' -print0 | xargs -0 -P "$(nproc)" -n 32 sh -c '
for ko; do
  name=${ko##*/}; name=${name%%.ko*}
  case $ko in *.xz) xz -dc "$ko" > "$work/$name.ko" ;; *) cp "$ko" "$work/$name.ko" ;; esac
  objcopy -O binary --only-section=.BTF "$work/$name.ko" "$work/$release/modules/$name.btf"
  rm "$work/$name.ko"
done' sh
tar -C "$work" -cJf "$out/$release.btf.tar.xz" "$release.btf" "$release"
rm -rf "$work"
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("package", nargs="?", type=Path, help="a linux-image .deb (default: the newest 6.12 cloud one)")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    deb = args.package or image_deb(releases("6.12")[-1])
    print(f"PKG {deb} ({deb.stat().st_size / 1e6:.0f} MB), {len(os.sched_getaffinity(0))} CPUs")
    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as loop_dir:
        # A fresh output directory for every run: a rerun into the same one is skipped.
        ours = run_best_of(["sh", "-c", f'exec "$@" -o {ours_dir}/$$', "sh", *BTFKIT, "archive", "--no-progress",
                            str(deb)], args.repeat)  # fmt: skip
        theirs = run_best_of(["bash", "-c", _LOOP, "loop", str(deb), loop_dir], args.repeat)
    report("archive of one kernel package", ours, theirs, "dpkg-deb+xz+objcopy+tar", 0.5)


if __name__ == "__main__":
    main()
