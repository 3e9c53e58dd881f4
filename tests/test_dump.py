"""Raw and JSON dumps against bpftool 7.1, byte for byte; byte-exact round trips; the dump CLI.

Inputs are compiled here from tests/data/c with every producer of BTF at hand
(gcc -gbtf, gcc -g + pahole -J, clang for both BPF byte orders), the running
kernel's BTF, and BTF built through the API to reach what compilers never
emit (odd names, unknown linkage values, combined INT encodings, empty lists).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import btfkit
from btfkit import BTF, IntEncoding, Kind, Linkage, TypeIDError
from btfkit.cli import main
from btfkit.format.build import Builder
from btfkit.format.elf import btf_sections
from btfkit.format.kinds import make_info
from btfkit.outputs.json import dump_json
from btfkit.outputs.raw import dump_raw

from .compilers import clang, gcc_gbtf, gcc_pahole
from .conftest import tool

C_DIR = Path(__file__).parent / "data" / "c"

# bpftool option per format, and btfkit's formatter for it.
FORMATS: dict[str, tuple[list[str], Callable[[BTF], bytes]]] = {
    "raw": ([], dump_raw),
    "json": (["-j"], dump_json),
    "pretty": (["-p"], lambda btf: dump_json(btf, pretty=True)),
}


def bpftool_dump(path: Path, base: Path | None = None, fmt: str = "raw") -> bytes:
    """bpftool's dump of ``path`` (split on ``base``) in one of FORMATS."""
    cmd = [tool("bpftool"), *FORMATS[fmt][0]]
    if base is not None:
        cmd += ["-B", str(base)]
    cmd += ["btf", "dump", "file", str(path)]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def assert_same(ours: bytes, theirs: bytes, what: str) -> None:
    """Equality with a readable first difference."""
    if ours != theirs:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                  min(len(ours), len(theirs)))  # fmt: skip
        pytest.fail(f"{what}: differs from bpftool at byte {at}: "
                    f"ours {ours[at - 80 : at + 80]!r} vs bpftool {theirs[at - 80 : at + 80]!r}")  # fmt: skip


# --- compiled objects -------------------------------------------------------------------------

# name -> (source, how to build an object with BTF from it into a path)
_GCC_GBTF, _GCC_PAHOLE = gcc_gbtf(), gcc_pahole()

OBJECTS: dict[str, tuple[str, Callable[[Path, Path], None]]] = {
    "kinds-gcc-gbtf": ("dump_kinds.c", _GCC_GBTF),
    "kinds-gcc-pahole": ("dump_kinds.c", _GCC_PAHOLE),
    "kinds-bpfel": ("dump_kinds.c", clang("bpfel")),
    "kinds-bpfeb": ("dump_kinds.c", clang("bpfeb")),
    "enc-gcc-gbtf": ("enc_types.c", _GCC_GBTF),
    "enc-gcc-pahole": ("enc_types.c", _GCC_PAHOLE),
}


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("objects")
    built = {}
    for name, (source, build) in OBJECTS.items():
        path = out_dir / f"{name}.o"
        build(C_DIR / source, path)
        built[name] = path
    return built


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_object_dump_matches_bpftool(objects: dict[str, Path], name: str, fmt: str) -> None:
    btf = btfkit.load(objects[name])
    assert_same(FORMATS[fmt][1](btf), bpftool_dump(objects[name], fmt=fmt), name)


def test_objects_cover_every_kind(objects: dict[str, Path]) -> None:
    # The compiled inputs together reach every kind the dump formats differently.
    seen = {t.kind for path in objects.values() for t in btfkit.load(path).types()}
    assert seen == {k for k in Kind if k != Kind.UNKN}


def test_byte_order_detected_and_dumps_agree(objects: dict[str, Path]) -> None:
    be, le = btfkit.load(objects["kinds-bpfeb"]), btfkit.load(objects["kinds-bpfel"])
    assert (be.byteorder, le.byteorder) == ("big", "little")
    assert dump_raw(be) == dump_raw(le)
    assert dump_json(be) == dump_json(le)


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_object_round_trip(objects: dict[str, Path], name: str) -> None:
    raw = btf_sections(objects[name].read_bytes(), name).btf
    btf = btfkit.parse(raw)
    assert btfkit.to_bytes(btf) == raw
    # Through the other byte order and back gives the original bytes again.
    other = "little" if btf.byteorder == "big" else "big"
    flipped = btfkit.to_bytes(btf, other)
    assert flipped != raw
    again = btfkit.parse(flipped)
    assert again.byteorder == other
    assert btfkit.to_bytes(again, btf.byteorder) == raw
    assert dump_raw(again) == dump_raw(btf)


def test_big_endian_written_little_matches_little_endian_object(objects: dict[str, Path]) -> None:
    # clang emits the same BTF for both BPF byte orders: BE swapped to LE is the LE section.
    be = btfkit.parse(btf_sections(objects["kinds-bpfeb"].read_bytes(), "be").btf)
    le_raw = btf_sections(objects["kinds-bpfel"].read_bytes(), "le").btf
    assert btfkit.to_bytes(be, "little") == le_raw


# --- the running kernel -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_sys_vmlinux_matches_bpftool(sys_vmlinux: Path, fmt: str) -> None:
    assert_same(FORMATS[fmt][1](btfkit.load(sys_vmlinux)), bpftool_dump(sys_vmlinux, fmt=fmt), "vmlinux")


def test_sys_vmlinux_round_trip(sys_vmlinux: Path) -> None:
    raw = sys_vmlinux.read_bytes()
    assert btfkit.to_bytes(btfkit.parse(raw)) == raw


def test_root_ids_select_records(sys_vmlinux: Path) -> None:
    # bpftool 7.1 has no root_id; the selection must equal those records of the full dump.
    btf = btfkit.load(sys_vmlinux)
    lines = dump_raw(btf).splitlines(keepends=True)
    starts = {int(line[1 : line.index(b"]")]): i for i, line in enumerate(lines) if line[:1] == b"["}
    ts = btf.find("task_struct", Kind.STRUCT).id
    picked = [ts, 1, btf.type_count - 1, ts]
    expected = b""
    for tid in picked:
        end = starts.get(tid + 1, len(lines))
        expected += b"".join(lines[starts[tid] : end])
    assert dump_raw(btf, picked) == expected
    whole = dump_json(btf)
    for tid in picked:
        assert dump_json(btf, [tid])[len(b'{"types":[') : -3] in whole
    with pytest.raises(TypeIDError):
        dump_raw(btf, [btf.type_count])
    with pytest.raises(TypeIDError):
        dump_raw(btf, [0])


# --- BTF built through the API: what compilers do not emit ------------------------------------

ODD_NAMES = ['quote"d', "back\\slash", "it's", "tab\there", "new\nline", "ctl\x01\x1f", "é ü",
             "\x7f", "cr\rx", "ff\fx", "bs\bx", "%d%s", "/"]  # fmt: skip


def _odd_btf() -> BTF:
    b = Builder()
    i = b.add_int("int", 4, IntEncoding.SIGNED)
    for name in ODD_NAMES:
        b.add_typedef(name, i)
    for enc in range(16):  # every encoding value, combinations included
        b.btf.append_record([b.add_str(f"i{enc}"), make_info(Kind.INT), 4, enc << 24 | 3 << 16 | 8])
    proto = b.add_func_proto(i, [("a", i), ("", 0)])
    for linkage in (Linkage.STATIC, Linkage.GLOBAL, Linkage.EXTERN):
        b.add_var(f"v{linkage}", i, linkage)
        b.add_func(f"f{linkage}", proto, linkage)
    b.btf.append_record([b.add_str("v_odd"), make_info(Kind.VAR), i, 7])
    b.btf.append_record([b.add_str("f_odd"), make_info(Kind.FUNC, 5), proto])
    b.add_enum("uns", 4, [("U_MAX", 0xFFFFFFFF), ("U_HIGH", 0x80000000), ("U_ONE", 1)])
    b.add_enum("sig", 4, [("S_NEG", -1), ("S_MIN", -(1 << 31))])
    b.add_enum64("u64", 8, [("X_MAX", (1 << 64) - 1), ("X_HIGH", 1 << 63)])
    b.add_enum64("s64", 8, [("Y_MIN", -(1 << 63)), ("Y_NEG", -5)])
    b.add_enum("empty_enum", 4)
    b.add_struct("empty", 0)
    s = b.add_struct("bits", 8)
    b.add_member("a", i, 0, 3)
    b.add_member("", i, 8, 0)
    b.add_member("b", i, 32, 31)
    b.add_union("", 4, [("u", i, 0)])
    b.add_fwd("fs", "struct")
    b.add_fwd("fu", "union")
    b.add_decl_tag("tag", s, -1)
    b.add_decl_tag("mtag", s, 1)
    b.add_type_tag("ttag", i)
    b.add_volatile(b.add_const(b.add_restrict(b.add_ptr(0))))
    b.add_array(i, i, 7)
    b.add_float("float", 4)
    var = b.add_var("in_sec", i, Linkage.GLOBAL)
    b.add_datasec(".data", 12, [(var, 0, 4), (1, 4, 4), (0, 8, 4)])
    b.add_datasec(".empty", 0)
    return b.btf


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_odd_btf_matches_bpftool(tmp_path: Path, fmt: str) -> None:
    btf = _odd_btf()
    path = tmp_path / "odd.btf"
    btfkit.write(btf, path)
    loaded = btfkit.load(path)
    assert_same(FORMATS[fmt][1](loaded), bpftool_dump(path, fmt=fmt), "odd BTF")
    assert FORMATS[fmt][1](btf) == FORMATS[fmt][1](loaded)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_split_prints_own_types_only(tmp_path: Path, fmt: str) -> None:
    base = _odd_btf()
    b = Builder(base=base)
    int_id = base.find("int").id
    b.add_typedef("tab\there", int_id)  # a base string, reused by offset
    b.add_struct("split_only", 4, [("member", int_id, 0)])
    b.add_ptr(b.btf.type_count - 1)
    btfkit.write(base, tmp_path / "base.btf")
    btfkit.write(b.btf, tmp_path / "split.btf")
    split = btfkit.load(tmp_path / "split.btf", btfkit.load(tmp_path / "base.btf"))
    theirs = bpftool_dump(tmp_path / "split.btf", tmp_path / "base.btf", fmt)
    assert_same(FORMATS[fmt][1](split), theirs, "split BTF")
    if fmt == "raw":  # a selection may mix base and own types
        first_own = theirs.split(b"\n[")[0] + b"\n"
        assert dump_raw(split, [split.start_id, 1]) == first_own + bpftool_dump(tmp_path / "base.btf").split(b"\n[")[0] + b"\n"


@pytest.mark.parametrize("pretty", [False, True])
def test_empty_btf_matches_bpftool(tmp_path: Path, pretty: bool) -> None:
    path = tmp_path / "empty.btf"
    btfkit.write(BTF(), path)
    fmt = "pretty" if pretty else "json"
    assert_same(dump_json(btfkit.load(path), pretty=pretty), bpftool_dump(path, fmt=fmt), "empty")
    assert dump_raw(btfkit.load(path)) == bpftool_dump(path) == b""


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fmt"),
    [([], "raw"), (["--format", "raw"], "raw"), (["--format", "json"], "json"), (["-j"], "json"),
     (["-p"], "pretty"), (["-j", "--pretty"], "pretty")],
)  # fmt: skip
def test_cli_dump(objects: dict[str, Path], capsysbinary: pytest.CaptureFixture[bytes],
                  args: list[str], fmt: str) -> None:  # fmt: skip
    path = objects["kinds-bpfeb"]
    assert main(["dump", str(path), *args]) == 0
    out, err = capsysbinary.readouterr()
    assert err == b""
    assert_same(out, bpftool_dump(path, fmt=fmt), "btfkit dump")


def test_cli_dump_split_and_root_ids(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    base = _odd_btf()
    b = Builder(base=base)
    b.add_ptr(1)
    btfkit.write(base, tmp_path / "base.btf")
    btfkit.write(b.btf, tmp_path / "split.btf")
    assert main(["dump", str(tmp_path / "split.btf"), "-B", str(tmp_path / "base.btf")]) == 0
    assert capsysbinary.readouterr().out == bpftool_dump(tmp_path / "split.btf", tmp_path / "base.btf")
    assert main(["dump", str(tmp_path / "base.btf"), "--root-id", "2", "--root-id", "1"]) == 0
    assert capsysbinary.readouterr().out == dump_raw(base, [2, 1])


def test_cli_dump_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 20)
    assert main(["dump", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("btfkit: error: ") and err.count("\n") == 1
    assert main(["dump", str(tmp_path / "missing.btf")]) == 1
    assert "missing.btf" in capsys.readouterr().err
    assert main(["dump", str(bad), "--root-id", "5"]) == 1


def test_cli_dump_root_id_out_of_range(objects: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(objects["kinds-gcc-gbtf"]), "--root-id", "100000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("btfkit: error: root type ID 100000 out of range")


def test_cli_dump_broken_pipe_is_quiet(sys_vmlinux: Path) -> None:
    exe = shutil.which("btfkit", path=str(Path(__file__).parents[1] / ".venv" / "bin"))
    assert exe is not None
    proc = subprocess.run(f"{exe} dump {sys_vmlinux} | head -1", shell=True, capture_output=True,
                          check=True)  # fmt: skip
    assert proc.stdout.startswith(b"[1] ")
    assert proc.stderr == b""
