"""``btfkit encode`` of a whole kernel: Debian's 6.1 vmlinux with its DWARF, against pahole 1.24.

Debian 12 builds its 6.1 kernels with pahole 1.24, which the kernel's
scripts/pahole-flags.sh runs as ``pahole -J --btf_gen_floats -j --lang_exclude=rust``.
``-j`` makes pahole 1.24's output depend on how its threads interleave (two runs differ, and
some functions come out twice), so the byte oracle is pahole run here with the same options
but ``-j``; the ``.BTF`` that Debian shipped in the kernel image (made with ``-j``) must then
hold the same types, but for those duplicated functions.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from . import debian_kernels
from .conftest import tool

pytestmark = pytest.mark.corpus

FLAGS = ["--btf_gen_floats", "--lang_exclude=rust"]  # Debian's, but -j
DUPLICATED_BY_J = {"FUNC", "FUNC_PROTO"}  # what pahole 1.24 -j may emit more than once


def _types(path: Path) -> list[tuple[str, str]]:
    """(kind, name) of every type, from bpftool's raw dump of ``path`` (raw BTF or an ELF's .BTF)."""
    out = subprocess.run([tool("bpftool"), "btf", "dump", "file", str(path)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        if line.startswith("["):
            _id, kind, name = line.split(" ", 3)[:3]
            rows.append((kind, name))
    return rows


def test_vmlinux_matches_pahole(tmp_path: Path) -> None:
    release = debian_kernels.releases("6.1")[-1]
    vmlinux = debian_kernels.debug(release).vmlinux
    ref = tmp_path / "pahole.btf"
    # (pahole's detached mode writes only the output: no copy of the 600 MB vmlinux needed)
    subprocess.run([tool("pahole"), "-J", *FLAGS, "--btf_encode_detached", str(ref), str(vmlinux)], check=True)
    ours = tmp_path / "btfkit.btf"
    done = subprocess.run([sys.executable, "-m", "btfkit", "encode", "--no-base", "--btf_gen_floats", str(vmlinux),
                           "-o", str(ours)], capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ours.read_bytes() == ref.read_bytes()

    # What Debian shipped (pahole 1.24 with -j): the same types, functions once each.
    shipped = _types(debian_kernels.image(release).vmlinux)
    mine = _types(ours)
    assert set(shipped) == set(mine)
    counts = Counter(kind for kind, _ in mine)
    shipped_counts = Counter(kind for kind, _ in shipped)
    for kind, n in counts.items():
        if kind in DUPLICATED_BY_J:
            assert shipped_counts[kind] >= n
        else:
            assert shipped_counts[kind] == n, kind
