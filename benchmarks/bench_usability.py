"""The costs usability added to reading: libbpf's object fixups and the wrong-base checks.

* An object's BTF fixed as libbpf fixes it on opening (``format/fixups.py``: read the ELF's
  sections and symbols, fix the DATASECs) against libbpf 1.5's ``bpf_object__open`` (which
  does that and more), on a ``clang -target bpf`` object.
* Reading every corpus module split on vmlinux with ``btfkit.load`` (which checks that the
  base fits) against ``btfkit.parse`` of the same ``.BTF`` sections (no check), and against
  libbpf 1.1's ``btf__parse_split`` of the same files (no such check either).

Run: ``.venv/bin/python -m benchmarks.bench_usability``
"""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
import time
from pathlib import Path

from tests import kernel_source, libbpf_oracle

import btfkit
from btfkit.format.basefit import check_base_fits
from btfkit.format.elf import btf_sections
from btfkit.format.fixups import load_time_fixups, object_layout

from .common import CORPUS, best_of, report

ROOT = Path(__file__).resolve().parent.parent


def bench_fixups() -> None:
    with tempfile.TemporaryDirectory() as d:
        obj = Path(d) / "prog.o"
        subprocess.run(["clang", "-g", "-O2", "-target", "bpf", "-c", str(ROOT / "tests/data/c/fixup_prog.c"),
                        "-o", str(obj)], check=True)  # fmt: skip
        data = obj.read_bytes()

        def ours() -> None:
            btf = btfkit.load(data)
            layout = object_layout(data, "prog.o")
            assert layout is not None
            load_time_fixups(btf, layout)

        lib = ctypes.CDLL(str(kernel_source.libbpf_path()))
        lib.bpf_object__open_file.restype = ctypes.c_void_p
        lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.bpf_object__close.argtypes = [ctypes.c_void_p]

        def theirs() -> None:
            lib.bpf_object__close(lib.bpf_object__open_file(str(obj).encode(), None))

        report("object BTF with libbpf's fixups", best_of(ours, 20), best_of(theirs, 20), "libbpf 1.5")


def bench_base_checks() -> None:
    vmlinux = CORPUS / "vmlinux"
    base = btfkit.load(vmlinux)
    modules = sorted((CORPUS / "modules").rglob("*.ko"))
    raws = [btf_sections(m.read_bytes(), m.name).btf for m in modules]
    t = time.perf_counter()
    splits = [btfkit.parse(raw, base) for raw in raws]
    parse_only = time.perf_counter() - t
    t = time.perf_counter()
    for split in splits:
        check_base_fits(split)
    checks = time.perf_counter() - t
    lib = libbpf_oracle._lib()
    lbase = lib.btf__parse_split(str(vmlinux).encode(), None)
    t = time.perf_counter()
    for m in modules:
        libbpf_oracle.free(lib.btf__parse_split(str(m).encode(), lbase))
    libbpf = time.perf_counter() - t
    libbpf_oracle.free(lbase)
    print(f"{len(modules)} modules: parse {parse_only * 1000:.0f} ms, base checks {checks * 1000:.0f} ms "
          f"(+{100 * checks / parse_only:.0f}% on parsing)")  # fmt: skip
    report(f"parse + base check, {len(modules)} modules", parse_only + checks, libbpf, "libbpf 1.1 parse_split")


def main() -> None:
    bench_fixups()
    bench_base_checks()


if __name__ == "__main__":
    main()
