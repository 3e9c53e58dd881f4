"""Loading and dumping a kernel's BTF: btfkit vs libbpf 1.1 and bpftool 7.1.

* load (in-process, best of N): ``btfkit.load(path)`` against libbpf's
  ``btf__parse_raw(path)`` through ctypes;
* load and look up ``struct task_struct`` (in-process): ``btfkit.load(path).type(...)``
  against libbpf's ``btf__parse_raw`` + ``btf__find_by_name_kind``, beside
  ``btfkit.load(path).find(...)`` (the look-up before the type model);
* raw dump (whole process, best of N): ``btfkit dump FILE > out`` against
  ``bpftool btf dump file FILE > out`` (a real file: bpftool's many small
  stdio writes are part of its cost), and the same into /dev/null;
* JSON dump (whole process, into a file): ``btfkit dump -j`` against ``bpftool -j``;
* peak RSS of a fresh Python process that loaded the BTF.

Targets: load ≤ 10× libbpf, raw dump ≤ 2× bpftool, RSS ≤ 100 MB.
Run: ``.venv/bin/python -m benchmarks.bench_load_dump [FILE]`` (default
/sys/kernel/btf/vmlinux, else the corpus vmlinux's BTF extracted to a file).
"""

from __future__ import annotations

import ctypes
import shutil
import sys
import tempfile
from pathlib import Path

import btfkit
from btfkit.format.elf import btf_sections

from .common import (
    BTFKIT,
    CORPUS,
    best_of,
    peak_rss_mb,
    report,
    run_best_of,
    run_to_file_best_of,
)

REPEAT = 7


def _raw_btf_file(tmp: Path) -> Path:
    sysfs = Path("/sys/kernel/btf/vmlinux")
    if sysfs.exists():
        return sysfs
    out = tmp / "vmlinux.btf"  # libbpf's raw parser wants raw BTF, not an ELF
    out.write_bytes(btf_sections((CORPUS / "vmlinux").read_bytes(), "vmlinux").btf)
    return out


def main() -> None:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    libbpf = ctypes.CDLL("libbpf.so.1")
    libbpf.btf__parse_raw.restype = ctypes.c_void_p
    libbpf.btf__parse_raw.argtypes = [ctypes.c_char_p]
    libbpf.btf__free.argtypes = [ctypes.c_void_p]
    libbpf.btf__find_by_name_kind.restype = ctypes.c_int
    libbpf.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(sys.argv[1]) if len(sys.argv) > 1 else _raw_btf_file(Path(tmp))
        btf = btfkit.load(path)
        print(f"{path}: {len(btf)} types, {path.stat().st_size / 1e6:.1f} MB\n")

        def libbpf_load() -> None:
            ptr = libbpf.btf__parse_raw(str(path).encode())
            assert ptr, "libbpf failed to parse the file"
            libbpf.btf__free(ptr)

        libbpf_time = best_of(libbpf_load, REPEAT)
        report("load (in-process)", best_of(lambda: btfkit.load(path), REPEAT),
               libbpf_time, "libbpf", target=10)  # fmt: skip

        def libbpf_lookup() -> None:
            ptr = libbpf.btf__parse_raw(str(path).encode())
            assert libbpf.btf__find_by_name_kind(ptr, b"task_struct", int(btfkit.Kind.STRUCT)) > 0
            libbpf.btf__free(ptr)

        lookup_theirs = best_of(libbpf_lookup, REPEAT)
        report("load + type('struct task_struct')",
               best_of(lambda: btfkit.load(path).type("struct task_struct"), REPEAT), lookup_theirs, "libbpf")  # fmt: skip
        report("load + find('task_struct', STRUCT)",
               best_of(lambda: btfkit.load(path).find("task_struct", btfkit.Kind.STRUCT), REPEAT),
               lookup_theirs, "libbpf")  # fmt: skip
        # The reference checks run once, on first need (a dump, dedup, a copy): shown apart.
        report("load + check_references (in-process)",
               best_of(lambda: btfkit.load(path).check_references(), REPEAT), libbpf_time, "libbpf")  # fmt: skip
        out = Path(tmp) / "out"
        raw_ours, raw_theirs = [*BTFKIT, "dump", str(path)], [bpftool, "btf", "dump", "file", str(path)]
        ours = run_to_file_best_of(raw_ours, out)
        theirs = run_to_file_best_of(raw_theirs, out)
        report("raw dump > file (whole process)", ours, theirs, "bpftool", target=2)
        report("raw dump > /dev/null (whole process)", run_best_of(raw_ours, REPEAT),
               run_best_of(raw_theirs, REPEAT), "bpftool")  # fmt: skip
        ours = run_to_file_best_of([*BTFKIT, "dump", "-j", str(path)], out)
        theirs = run_to_file_best_of([bpftool, "-j", "btf", "dump", "file", str(path)], out)
        report("JSON dump > file (whole process)", ours, theirs, "bpftool")
        t_import = run_best_of([*BTFKIT, "--help"], REPEAT)
        print(f"{'btfkit start-up (btfkit --help)':<40} btfkit {t_import * 1000:9.1f} ms")
        rss = peak_rss_mb(f"import btfkit; btf = btfkit.load({str(path)!r})")
        print(f"{'peak RSS after load':<40} btfkit {rss:9.1f} MB  (target ≤ 100 MB: "
              f"{'met' if rss <= 100 else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
