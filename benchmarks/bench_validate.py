"""Validating a kernel's BTF: btfkit's verifier against the kernel's own (BPF_BTF_LOAD).

* ``validate`` (in-process, best of N) on the already-parsed BTF, and
  ``validate_bytes`` (parse + header rules + validate) on the raw bytes,
  against the running kernel loading the same bytes with bpf(BPF_BTF_LOAD),
  which parses and verifies them (the fd is closed at once).

Target: validate_bytes of vmlinux ≤ 2 s (a few seconds at most).
Run: ``.venv/bin/python -m benchmarks.bench_validate [FILE]`` (default
/sys/kernel/btf/vmlinux; needs the privilege to load BTF for the kernel side).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests import kernel_oracle

import btfkit
from btfkit.format.validate import validate, validate_bytes

from .common import best_of, report

REPEAT = 5


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/sys/kernel/btf/vmlinux")
    data = path.read_bytes()
    btf = btfkit.parse(data)
    print(f"{path}: {len(btf)} types, {len(data) / 1e6:.1f} MB")
    refused = kernel_oracle.probe()
    if refused is not None:
        sys.exit(f"cannot time the kernel side: {refused}")
    assert kernel_oracle.load(data).ok
    kernel = best_of(lambda: kernel_oracle.load(data), REPEAT)
    report("validate (parsed BTF)", best_of(lambda: validate(btf), REPEAT), kernel, "kernel")
    ours = best_of(lambda: validate_bytes(data, load=True), REPEAT)
    report("validate_bytes (parse + validate)", ours, kernel, "kernel")
    print(f"validate_bytes target ≤ 2 s: {'met' if ours <= 2 else 'MISSED'} ({ours:.2f} s)")


if __name__ == "__main__":
    main()
