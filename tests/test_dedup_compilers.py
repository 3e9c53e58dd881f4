"""Merging what compilers emit: several objects' BTF joined, then deduplicated like libbpf 1.1.2.

The C files (``data/c/dedup_*``) share a header with structs, unions,
bitfields, anonymous members, forward declarations completed in another file,
function pointers, enums of every size and pointer cycles.  Their BTF comes
from ``gcc -gbtf`` directly, from ``gcc -g`` followed by ``pahole -J``, and
from ``clang -g -target bpf`` in both byte orders.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import btfkit
from btfkit.format.elf import btf_sections
from btfkit.transforms.dedup import dedup
from btfkit.transforms.merge import concat

from . import libbpf_oracle
from .conftest import require, tool

DATA = Path(__file__).parent / "data" / "c"
SOURCES = sorted(DATA.glob("dedup_cu*.c"))


@pytest.fixture(autouse=True)
def _libbpf() -> None:
    require(libbpf_oracle.lib is not None, "libbpf.so.1 is not installed (Debian's libbpf1)")


def _compile(tmp_path: Path, how: str) -> list[bytes]:
    out = []
    for src in SOURCES:
        obj = tmp_path / f"{src.stem}.{how}.o"
        if how == "gcc-btf":
            subprocess.run([tool("gcc"), "-gbtf", "-O1", "-c", str(src), "-o", str(obj)], check=True)
        elif how == "pahole":
            subprocess.run([tool("gcc"), "-g", "-O1", "-c", str(src), "-o", str(obj)], check=True)
            subprocess.run([tool("pahole"), "-J", str(obj)], check=True, capture_output=True)
        else:  # clang for BPF, little or big endian
            target = "bpfel" if how == "clang-el" else "bpfeb"
            subprocess.run([tool("clang"), "-g", "-O1", "-target", target, "-c", str(src), "-o", str(obj)],
                           check=True)  # fmt: skip
        out.append(btf_sections(obj.read_bytes(), str(obj)).btf)
    return out


@pytest.mark.parametrize("how", ["gcc-btf", "pahole", "clang-el", "clang-eb"])
def test_merged_objects_same_as_libbpf(tmp_path: Path, how: str) -> None:
    parts = [btfkit.parse(raw) for raw in _compile(tmp_path, how)]
    raw = btfkit.to_bytes(concat(parts))
    if how == "clang-eb":
        # libbpf 1.1 dedups only BTF in host order; compare on the swapped copy, then
        # check that btfkit keeps the input's byte order.
        host_raw = btfkit.to_bytes(btfkit.parse(raw), "little")
        expected = btfkit.to_bytes(btfkit.parse(libbpf_oracle.dedup(host_raw)), "big")
    else:
        expected = libbpf_oracle.dedup(raw)
    ours = btfkit.parse(raw)
    dedup(ours)
    assert btfkit.to_bytes(ours) == expected
    names = {t.name for t in ours}
    assert {"dd_node", "dd_sock", "dd_addr", "dd_ops", "dd_list"} <= names
    # The forward declarations were completed by the other files.
    assert not any(t.kind == btfkit.Kind.FWD and t.name in ("dd_sock", "dd_addr") for t in ours)
    for force in (True,):
        again = btfkit.parse(raw)
        dedup(again, force_collisions=force)
        assert btfkit.to_bytes(again) == btfkit.to_bytes(ours)


def test_each_object_alone(tmp_path: Path) -> None:
    for raw in _compile(tmp_path, "gcc-btf"):
        ours = btfkit.parse(raw)
        dedup(ours)
        assert btfkit.to_bytes(ours) == libbpf_oracle.dedup(raw)
