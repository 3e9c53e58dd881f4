"""``.BTF.ext``: byte-exact round trips of what clang and gcc write, in both byte orders, and its dump."""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btfkit.cli.app import main
from btfkit.core import load_program, resolve
from btfkit.format import ext
from btfkit.format.elf import btf_sections
from btfkit.format.reader import load

from .conftest import tool
from .core_selftests import objects

SMALL = r"""
struct inner { int x; unsigned short y[4]; };
struct s { long a; struct inner in; int b; };
int f(struct s *p)
{
	return __builtin_preserve_access_index(p->in.y[2]) + __builtin_preserve_access_index(p->b);
}
int g(struct s *p, int k)
{
	return k * __builtin_preserve_access_index(p->in.x);
}
"""


def _ext_of(path: Path) -> bytes:
    sections = btf_sections(path.read_bytes(), str(path))
    assert sections.ext is not None, f"{path.name} has no .BTF.ext"
    return sections.ext


@pytest.fixture(scope="module")
def gcc_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """``bpf-gcc -gbtf -mco-re`` (Debian's gcc-bpf) in both byte orders."""
    gcc = tool("bpf-gcc")
    out = tmp_path_factory.mktemp("gcc-bpf")
    src = out / "small.c"
    src.write_text(SMALL)
    built = []
    for endian in ("little", "big"):
        obj = out / f"small-{endian}.o"
        subprocess.run([gcc, "-gbtf", "-O2", "-mco-re", f"-m{endian}-endian", "-c", str(src), "-o", str(obj)],
                       check=True)  # fmt: skip
        built.append(obj)
    return built


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
def test_clang_selftests_round_trip(target: str) -> None:
    """Every CO-RE selftest object, compiled by clang-19 for either byte order, parses and writes back the same bytes."""
    objs = sorted(objects(target).glob("*.bpf.o"))
    assert len(objs) > 80
    relos = 0
    for obj in objs:
        data = _ext_of(obj)
        parsed = ext.parse(data)
        assert parsed.byteorder == ("little" if target == "bpfel" else "big")
        assert ext.to_bytes(parsed) == data, obj.name
        relos += len(parsed.relocations())
        # The other byte order reads back to the same records.
        other = "big" if parsed.byteorder == "little" else "little"
        swapped = ext.parse(ext.to_bytes(parsed, other))
        assert swapped.blocks() == parsed.blocks()
    assert relos > 100


def test_gcc_round_trip(gcc_objects: list[Path]) -> None:
    for obj in gcc_objects:
        data = _ext_of(obj)
        parsed = ext.parse(data)
        assert ext.to_bytes(parsed) == data
        kinds = [r.kind for _, _, r in parsed.relocations()]
        assert kinds == [ext.CoreReloKind.FIELD_BYTE_OFFSET] * 3, kinds


def test_line_info_points_at_the_source() -> None:
    """Each line_info's text is the source file's line of that number (read from the file itself)."""
    obj = objects() / "test_core_reloc_kernel.bpf.o"
    btf = load(obj)
    parsed = ext.parse(_ext_of(obj))
    checked = 0
    for sec in parsed.line_info.sections:
        for rec in sec.records:
            assert isinstance(rec, ext.LineInfo)
            lines = Path(btf.str_at(rec.file_name_off)).read_text().splitlines()
            assert lines[rec.line - 1] == btf.str_at(rec.line_off)
            checked += 1
    assert checked > 20


def test_dump_ext(capsys: pytest.CaptureFixture[str]) -> None:
    obj = objects() / "test_core_reloc_kernel.bpf.o"
    assert main(["dump", "--ext", str(obj)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("section 'raw_tracepoint/sys_enter'\n  func info (record size 8)\n")
    assert re.search(r"^    insn 0: func \[\d+\] test_core_kernel$", text, re.M)
    assert re.search(r"^    insn \d+: \S+test_core_reloc_kernel.c:\d+:\d+  struct task_struct \*task = ", text, re.M)
    assert re.search(r"^    insn \d+: field_byte_offset struct task_struct\.group_leader \(0:3\)$", text, re.M)
    assert re.search(r"^    insn \d+: type_matches struct task_struct___local$", text, re.M)


def test_dump_ext_gcc_big_endian(gcc_objects: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", "--ext", str(gcc_objects[1])]) == 0
    text = capsys.readouterr().out
    assert "field_byte_offset struct s.in.y[2] (0:1:1:2)" in text
    assert "field_byte_offset struct s.b (0:2)" in text


def test_dump_ext_needs_ext(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw.btf"
    raw.write_bytes(b"\x9f\xeb\x01\x00\x18\x00\x00\x00" + bytes(8) + b"\x00\x00\x00\x00\x01\x00\x00\x00\x00")
    assert main(["dump", "--ext", str(raw)]) == 1
    assert "no .BTF.ext" in capsys.readouterr().err


def test_bad_ext_is_a_clear_error() -> None:
    good = _ext_of(objects() / "test_core_reloc_flavors.bpf.o")
    with pytest.raises(ext.BTFFormatError, match="bad magic"):
        ext.parse(b"\0\0" + good[2:])
    cut = good[: len(good) - 8]
    with pytest.raises(ext.BTFFormatError, match=r"outside the section|does not fit"):
        ext.parse(cut)


_u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def _blocks(draw: st.DrawFn, kind: type[ext.FuncInfo | ext.LineInfo | ext.CoreRelo], fixed: int) -> ext.InfoBlock:
    extra = draw(st.sampled_from([0, 0, 4, 8]))
    secs = draw(st.lists(st.tuples(_u32, st.integers(1, 4)), max_size=3))
    sections = []
    for name, n in secs:
        records = [
            kind._make((*draw(st.tuples(*[_u32] * fixed)), draw(st.binary(min_size=extra, max_size=extra))))
            for _ in range(n)
        ]
        sections.append(ext.ExtSection(name, records))
    return ext.InfoBlock(fixed * 4 + extra, sections)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["little", "big"]),
    _blocks(ext.FuncInfo, 2),
    _blocks(ext.LineInfo, 4),
    st.one_of(st.none(), _blocks(ext.CoreRelo, 4)),
)
def test_write_parse_round_trip(
    order: str, fi: ext.InfoBlock, li: ext.InfoBlock, cr: ext.InfoBlock | None
) -> None:
    """Any set of records writes and reads back to the same records, and then to the same bytes."""
    built = ext.BTFExt(order, func_info=fi, line_info=li, core_relo=cr)  # type: ignore[arg-type]
    data = ext.to_bytes(built)
    back = ext.parse(data)
    assert [(n, b.sections, b.rec_size if b.sections else None) for n, b in back.blocks()] == [
        (n, b.sections, b.rec_size if b.sections else None) for n, b in built.blocks()
    ]
    assert ext.to_bytes(back) == data


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupt_ext_is_an_error_not_a_crash(data: st.DataObject) -> None:
    """Flipped bytes in a real .BTF.ext: a parse, or a BTFFormatError; never another exception."""
    good = bytearray(_ext_of(objects() / "test_core_reloc_kernel.bpf.o"))
    for _ in range(data.draw(st.integers(1, 4))):
        good[data.draw(st.integers(0, len(good) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good)))
    with contextlib.suppress(ext.BTFFormatError):
        ext.parse(bytes(good[:cut]) if data.draw(st.booleans()) else bytes(good))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_odd_relocations_are_reported_not_raised(data: st.DataObject) -> None:
    """Relocation records with any type ID, access string, kind or offset resolve to a value or an error."""
    prog = load_program(objects() / "test_core_reloc_kernel.bpf.o")
    assert prog.ext is not None and prog.ext.core_relo is not None
    strings = [s for s in ("0", "0:1", "0:0:5", "1:2:3", "0:99", "", ":", "x", "0:-1", "7") if s]
    sec = prog.ext.core_relo.sections[0]
    records = list(sec.records)
    for i in range(len(records)):
        if data.draw(st.booleans()):
            off = prog.btf.strings.add(data.draw(st.sampled_from(strings)))
            records[i] = ext.CoreRelo(
                data.draw(st.integers(0, 2000)) * data.draw(st.sampled_from([8, 1])),
                data.draw(st.integers(0, len(prog.btf) + 3)),
                off,
                data.draw(st.integers(0, 14)),
            )
    sec.records = records  # type: ignore[assignment]
    target = load(objects() / "btf__core_reloc_type_based.bpf.o")
    result = resolve(prog, target)
    for r in result.relocations:
        assert r.skipped or r.error is not None or r.value is not None or r.poisoned
