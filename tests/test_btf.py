"""The split-aware container and reader: numbering, look-ups, chains, containers, errors.

Expected values come from bpftool's dump of the same files (its raw text is
the independent view of IDs, names and string placement).
"""

from __future__ import annotations

import gzip
import lzma
import re
import subprocess
from pathlib import Path

import pytest
import zstandard

import btfkit
from btfkit import BTF, Kind
from btfkit.format.build import Builder
from btfkit.format.kinds import KINDS

from .conftest import Corpus, tool

_LINE = re.compile(r"^\[(\d+)\] (\S+) '([^']*)'")


def bpftool_index(path: Path, base: Path | None = None) -> dict[int, tuple[str, str]]:
    """ID -> (kind, name) as bpftool prints them."""
    cmd = [tool("bpftool"), "btf", "dump", "file", str(path)]
    if base is not None:
        cmd[1:1] = ["-B", str(base)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    index = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            index[int(m[1])] = (m[2], m[3])
    return index


def test_kind_table_is_complete() -> None:
    # Every kind of the UAPI has exactly one table entry, and records are whole words.
    assert set(KINDS) == {k for k in Kind if k != Kind.UNKN}
    for spec in KINDS.values():
        assert spec.label == Kind(spec.kind).name
        assert all(i < spec.extra_words for i in spec.extra_refs)
        assert all(i < spec.elem_words for i in (*spec.elem_refs, *spec.elem_strs))


def test_sys_vmlinux_ids_and_names(sys_vmlinux: Path) -> None:
    btf = btfkit.load(sys_vmlinux)
    index = bpftool_index(sys_vmlinux)
    assert btf.start_id == 1
    assert btf.type_count - 1 == max(index)
    for tid in (1, 2, len(btf) // 2, btf.type_count - 1):
        kind, name = index[tid]
        assert btf[tid].spec.label == kind
        assert (btf[tid].name or "(anon)") == name
    ts = btf.find("task_struct", Kind.STRUCT)
    assert index[ts.id] == ("STRUCT", "task_struct")
    assert btf.resolve_size(ts.id) == ts.size


def test_split_module_numbering(corpus: Corpus) -> None:
    module = next(m for m in corpus.modules if m.name == "af_key.ko")
    btf = btfkit.load(module, corpus.base)
    index = bpftool_index(module, corpus.vmlinux)
    assert btf.base is corpus.base
    assert btf.start_id == corpus.base.type_count == min(index)
    assert btf.start_str_off == len(corpus.base.strings)
    for tid, (kind, name) in index.items():
        assert btf[tid].spec.label == kind
        assert (btf[tid].name or "(anon)") == name
    # IDs below start_id and offsets below start_str_off read through to the base.
    assert btf[1].name == corpus.base[1].name
    assert btf.str_at(corpus.base[1].name_off) == corpus.base[1].name
    assert [t.id for t in btf.types()] == sorted(index)
    assert sum(1 for _ in btf.types(include_base=True)) == btf.type_count - 1


def test_vmlinuz_reads_like_vmlinux(corpus: Corpus) -> None:
    assert btfkit.to_bytes(btfkit.load(corpus.vmlinuz)) == btfkit.to_bytes(corpus.base)


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".xz", lzma.compress), (".gz", gzip.compress), (".zst", zstandard.compress)],
)
def test_compressed_module(corpus: Corpus, tmp_path: Path, suffix: str, compress: object) -> None:
    module = next(m for m in corpus.modules if m.name == "af_key.ko")
    packed = tmp_path / (module.name + suffix)
    packed.write_bytes(compress(module.read_bytes()))  # type: ignore[operator]
    plain = btfkit.load(module, corpus.base)
    assert btfkit.to_bytes(btfkit.load(packed, corpus.base)) == btfkit.to_bytes(plain)


def test_split_chain(tmp_path: Path) -> None:
    # base -> split -> split-on-split: IDs and string offsets continue at every level.
    b = Builder()
    i = b.add_int("int", 4, btfkit.IntEncoding.SIGNED)
    base = b.btf
    s1 = Builder(base=base)
    p = s1.add_ptr(i)
    s1.add_struct("mid", 8, [("p", p, 0)])
    s2 = Builder(base=s1.btf)
    top = s2.add_struct("top", 8, [("int", i, 0), ("mid", p, 0)])
    assert s1.btf.start_id == 2 and s2.btf.start_id == 4 and top == 4
    assert s2.btf.start_str_off == len(base.strings) + len(s1.btf.strings)
    # "int" and "p" come from lower levels; only "top" and "mid" are new at the top... except
    # "mid" exists in s1 already, so only "top" is added.
    assert bytes(s2.btf.strings.data) == b"top\0"
    paths = [tmp_path / n for n in ("base", "s1", "s2")]
    for btf, path in zip((base, s1.btf, s2.btf), paths, strict=True):
        btfkit.write(btf, path)
    rb = btfkit.load(paths[0])
    r1 = btfkit.load(paths[1], rb)
    r2 = btfkit.load(paths[2], r1)
    assert [(m.name, m.type_id) for m in r2[4].members] == [("int", 1), ("mid", 2)]
    assert r2.c_name(r2[3].members[0].type_id) == "int *"
    assert btfkit.to_bytes(r2) == paths[2].read_bytes()


def test_find_and_errors() -> None:
    b = Builder()
    i = b.add_int("int", 4)
    b.add_typedef("t", i)
    b.add_struct("t", 4, [("x", i, 0)])
    btf = b.btf
    assert btf.find("t").kind == Kind.TYPEDEF
    assert btf.find("t", Kind.STRUCT).id == 3
    assert [t.id for t in btf.find_all("t")] == [2, 3]
    with pytest.raises(btfkit.NotFoundError):
        btf.find("nope")
    with pytest.raises(btfkit.TypeIDError, match="out of range"):
        btf[99]
    assert btf.skip_modifiers(2, typedefs=True) == 1


def test_typedef_cycle_does_not_hang() -> None:
    b = Builder()
    b.add_typedef("a", 2)
    b.add_typedef("b", 1)
    btf = btfkit.parse(btfkit.to_bytes(b.btf))
    with pytest.raises(btfkit.BTFFormatError, match="cyclic"):
        btf.skip_modifiers(1, typedefs=True)
    with pytest.raises(btfkit.BTFFormatError):
        btf.resolve_size(1)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "too short"),
        (b"\x9f\xeb\x01\x00" + b"\0" * 4, "shorter than"),
        (b"\x12\x34" + b"\0" * 30, "bad magic"),
        (b"\x9f\xeb\x02\x00\x18\0\0\0" + b"\0" * 16, "version"),
        (b"\x9f\xeb\x01\x00\x18\0\0\0" + b"\0" * 12 + b"\x05\0\0\0", "string section"),
    ],
)
def test_bad_headers(blob: bytes, message: str) -> None:
    with pytest.raises(btfkit.BTFHeaderError, match=message):
        btfkit.parse(blob)


def test_split_without_base_is_refused(corpus: Corpus) -> None:
    module = next(m for m in corpus.modules if m.name == "af_key.ko")
    with pytest.raises(btfkit.BTFError, match=r"without its base|out of range"):
        btfkit.load(module)


def test_unknown_kind_with_layout_is_skipped() -> None:
    # A 2026-format blob: 32-byte header, layout section describing a kind 25 record with one
    # extra word and 8-byte elements; btfkit sizes it from the layout and carries it through.
    import struct

    b = Builder()
    b.add_int("int", 4)
    strings = bytes(b.btf.strings.data)
    types = b.btf.words.tobytes()
    unknown = struct.pack("<4I", 0, (25 << 24) | 2, 0, 7) + struct.pack("<4I", 1, 2, 3, 4)
    layout = bytearray(26 * 4)
    struct.pack_into("<BBH", layout, 25 * 4, 4, 8, 0)
    body = types + unknown
    header = struct.pack("<HBBI6I", 0xEB9F, 1, 0, 32, 0, len(body), len(body) + len(layout),
                         len(strings), len(body), len(layout))  # fmt: skip
    blob = header + body + bytes(layout) + strings
    btf = btfkit.parse(blob)
    assert len(btf) == 2
    assert btf[2].kind == 25 and btf[2].spec.label == "UNKNOWN"
    assert btfkit.to_bytes(btf) == blob


def test_empty_btf_bytes() -> None:
    raw = btfkit.to_bytes(BTF())
    assert raw[:8] == b"\x9f\xeb\x01\x00\x18\x00\x00\x00"
    assert len(btfkit.parse(raw)) == 0
