"""A fault probe: broken, odd and hostile inputs and outputs, each run as a real ``btfkit`` process.

Every case must end in exactly one ``btfkit: error: ...`` line and exit status 1
(130 after Ctrl-C): never a traceback, never a hang (each run has a timeout),
never a file written that btfkit's own checks reject.  Corrupt ELF files are
real gcc objects with one header field broken; the verdict on what the encoder
wrote is ``btfkit validate``'s, itself tested against the kernel's verifier.
"""

from __future__ import annotations

import io
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from btfkit import BTFError, BTFFormatError, load, to_bytes, write
from btfkit.format.build import Builder

from .conftest import require, tool

BTFKIT = [sys.executable, "-m", "btfkit"]
DATA = Path(__file__).parent / "data" / "c"
TIMEOUT = 60


def _bounded() -> None:
    """A bound on memory, so an unbounded read fails fast instead of taking the machine's."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


MEMORY = 2 << 30


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BTFKIT, *args], capture_output=True, text=True, check=False, timeout=TIMEOUT,  # type: ignore[call-overload, no-any-return]
                          preexec_fn=_bounded, **kw)  # fmt: skip


def one_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, (r.returncode, r.stderr[-3000:])
    assert r.stderr.startswith("btfkit: error: ") and r.stderr.count("\n") == 1, r.stderr[-3000:]
    return r.stderr


def _small() -> bytes:
    b = Builder()
    i = b.add_int("int", 4)
    s = b.add_struct("pair", 8)
    b.add_member("a", i, 0)
    b.add_member("b", i, 32)
    b.add_ptr(s)
    return to_bytes(b.btf)


def _patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


SMALL = _small()
#: Raw BTF broken in one way each: name -> bytes.
BAD_BTF: dict[str, bytes] = {
    "empty": b"",
    "magic only": SMALL[:2],
    "truncated header": SMALL[:20],
    "truncated types": SMALL[: len(SMALL) // 2],
    "bad magic": _patched(SMALL, 0, "<H", 0x9FEC),
    "bad version": _patched(SMALL, 2, "B", 7),
    "header length huge": _patched(SMALL, 4, "<I", 0xFFFFFFF0),
    "string section past the end": _patched(SMALL, 20, "<I", 0xFFFFFF00),
    "type section past the end": _patched(SMALL, 12, "<I", 0xFFFFFF00),
    # (the INT record takes 16 bytes after the 24-byte header; then the struct's 12, then its members)
    "name offset past the strings": _patched(SMALL, 24 + 16, "<I", 10**6),  # the struct's name
    "dangling member type": _patched(SMALL, 24 + 16 + 12 + 4, "<I", 99),  # member a's type
}

COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "info": lambda out: ["info"],
    "dump": lambda out: ["dump"],
    "dump-json": lambda out: ["dump", "-j"],
    "dump-c": lambda out: ["dump", "-f", "c"],
    "validate": lambda out: ["validate"],
    "dedup": lambda out: ["dedup", "-o", str(out)],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(BAD_BTF))
def test_bad_raw_btf(case: str, command: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.btf"
    path.write_bytes(BAD_BTF[case])
    out = tmp_path / "out.btf"
    cmd = COMMANDS[command](out)
    one_error(run([*cmd[:1], str(path), *cmd[1:]]))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.btf"]


SPECIAL_INPUTS = ["/dev/zero", "/dev/null", "directory", "missing", "fifo-closed"]


SPECIAL_COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "info": lambda path, out: ["info", path],
    "dump": lambda path, out: ["dump", path],
    "validate": lambda path, out: ["validate", path],
    "encode": lambda path, out: ["encode", "--no-base", path, "-o", str(out)],
    "link": lambda path, out: ["link", path, "-o", str(out)],
}


@pytest.mark.parametrize("command", sorted(SPECIAL_COMMANDS))
@pytest.mark.parametrize("case", SPECIAL_INPUTS)
def test_special_inputs(case: str, command: str, tmp_path: Path) -> None:
    path = {"directory": str(tmp_path), "missing": str(tmp_path / "missing")}.get(case, case)
    out = tmp_path / "out.btf"
    if case == "fifo-closed":  # a writer that sends nothing and goes
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
        writer = subprocess.Popen(["sh", "-c", f"exec 3>'{path}'; sleep 0.2"])
        err = one_error(run(SPECIAL_COMMANDS[command](path, out)))
        writer.wait()
    else:
        err = one_error(run(SPECIAL_COMMANDS[command](path, out)))
    assert path in err and not out.exists()


def test_raw_btf_from_a_pipe_reads_to_its_declared_size(tmp_path: Path) -> None:
    """From a FIFO, BTF is read as far as its header says, even if more follows."""
    reference = run(["dump", "-j", str(_write(tmp_path / "s.btf", SMALL))])
    assert reference.returncode == 0, reference.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # The writer keeps the FIFO open: reading to its end would wait forever.
    writer = subprocess.Popen(["sh", "-c", f"cat '{tmp_path / 's.btf'}' - > '{fifo}'"], stdin=subprocess.PIPE)
    try:
        r = run(["dump", "-j", str(fifo)])
    finally:
        assert writer.stdin is not None
        writer.stdin.close()  # (cat ends with its input)
        writer.kill()
        writer.wait()
    assert r.returncode == 0 and r.stdout == reference.stdout, r.stderr


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_fifo_without_writer_says_what_it_waits_for(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*BTFKIT, "info", str(fifo)], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], TIMEOUT)
        assert ready, "nothing said while waiting"
        line = proc.stderr.readline()
        assert line == f"btfkit: waiting for data from the FIFO {fifo}\n"
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=TIMEOUT)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and rest == "btfkit: error: interrupted\n", rest


@pytest.fixture(scope="module")
def gcc_object() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        obj = Path(d) / "t.o"
        subprocess.run([tool("gcc"), "-g", "-c", str(DATA / "enc_types.c"), "-o", str(obj)], check=True)
        yield obj


def _section_field(data: bytes, index: int, field: int) -> int:
    """Where field ``field`` (byte offset in a 64-bit section header) of section ``index`` is."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    return shoff + 64 * index + field


def _corrupt_elf(data: bytes, case: str) -> bytes:
    index = {sec.name: i for i, sec in enumerate(ELFFile(io.BytesIO(data)).iter_sections())}
    (shstrndx,) = struct.unpack_from("<H", data, 0x3E)
    if case == "section table near 2**64":
        return _patched(data, 0x28, "<Q", (1 << 64) - 64)
    if case == "section table past the end":
        return _patched(data, 0x28, "<Q", len(data) - 64)
    if case == "compressed .shstrtab":
        at = _section_field(data, shstrndx, 8)
        return _patched(data, at, "<Q", struct.unpack_from("<Q", data, at)[0] | 0x800)
    if case == "shstrndx out of range":
        return _patched(data, 0x3E, "<H", 0xFEFF)
    if case == ".debug_info size near 2**63":
        return _patched(data, _section_field(data, index[".debug_info"], 0x20), "<Q", 1 << 63)
    if case == ".symtab offset near 2**64":
        return _patched(data, _section_field(data, index[".symtab"], 0x18), "<Q", (1 << 64) - 16)
    if case == "section name past .shstrtab":
        return _patched(data, _section_field(data, index[".debug_info"], 0), "<I", 0xFFFFFF)
    if case == "truncated":
        return data[: len(data) // 2]
    raise AssertionError(case)


ELF_CASES = ["section table near 2**64", "section table past the end", "compressed .shstrtab",
             "shstrndx out of range", ".debug_info size near 2**63", ".symtab offset near 2**64",
             "section name past .shstrtab", "truncated"]  # fmt: skip


@pytest.mark.parametrize("command", ["info", "validate", "encode", "encode-in-place"])
@pytest.mark.parametrize("case", ELF_CASES)
def test_corrupt_elf(case: str, command: str, gcc_object: Path, tmp_path: Path) -> None:
    """One reader of ELF structure: every command refuses the same corrupt object cleanly."""
    bad = _write(tmp_path / "bad.o", _corrupt_elf(gcc_object.read_bytes(), case))
    before = bad.read_bytes()
    out = tmp_path / "out.btf"
    args = {
        "info": ["info", str(bad)],
        "validate": ["validate", str(bad)],
        "encode": ["encode", "--no-base", str(bad), "-o", str(out)],
        "encode-in-place": ["encode", "--no-base", str(bad), "--in-place"],
    }[command]
    one_error(run(args))
    assert not out.exists() and bad.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.o"]


def _dangling_member_type(obj: bytes) -> bytes:
    """The object with its first struct member's DW_AT_type pointing at the unit's own DIE."""
    elf = ELFFile(io.BytesIO(obj))
    info = elf.get_section_by_name(".debug_info")
    assert info is not None
    for cu in elf.get_dwarf_info(relocate_dwarf_sections=False).iter_CUs():
        for die in cu.iter_DIEs():
            attr = die.attributes.get("DW_AT_type")
            if die.tag == "DW_TAG_member" and attr is not None and attr.form == "DW_FORM_ref4":
                return _patched(obj, info["sh_offset"] + attr.offset, "<I", cu.get_top_DIE().offset - cu.cu_offset)
    raise AssertionError("no struct member in the object")


@pytest.mark.parametrize("with_base", [True, False])
def test_encode_refuses_dangling_dwarf_reference(with_base: bool, gcc_object: Path, tmp_path: Path,
                                                 sys_vmlinux: Path) -> None:  # fmt: skip
    """pahole maps it onto the type before the unit (with a base, the base's last): BTF
    that ``validate`` rejects.  btfkit refuses, saying why."""
    bad = _write(tmp_path / "bad.o", _dangling_member_type(gcc_object.read_bytes()))
    out = tmp_path / "out.btf"
    base = ["-B", str(sys_vmlinux)] if with_base else ["--no-base"]
    err = one_error(run(["encode", *base, str(bad), "-o", str(out)]))
    assert "which is no type" in err and str(bad) in err
    assert not out.exists()


def test_to_bytes_refuses_dangling_reference(tmp_path: Path) -> None:
    b = Builder()
    b.add_int("int", 4)
    b.add_ptr(99)
    with pytest.raises(BTFFormatError, match="beyond the last ID"):
        to_bytes(b.btf)
    with pytest.raises(BTFFormatError, match="beyond the last ID"):
        write(b.btf, tmp_path / "x.btf")
    assert list(tmp_path.iterdir()) == []


def test_str_at_negative_is_a_btf_error() -> None:
    btf = load(SMALL)
    with pytest.raises(BTFError, match="negative"):
        btf.str_at(-1)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp())
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def _as_nobody() -> dict[str, object]:
    require(os.geteuid() == 0, "a run as another user (for permissions root ignores) needs root")
    return {"user": 65534, "group": 65534, "extra_groups": []}


def test_unreadable_input(shared_dir: Path) -> None:
    path = _write(shared_dir / "secret.btf", SMALL)
    path.chmod(0)
    for command in ("info", "dump", "validate"):
        assert "Permission denied" in one_error(run([command, str(path)], **_as_nobody()))


@pytest.mark.parametrize("case", ["missing folder", "read-only folder", "a directory", "a file as folder"])
def test_unwritable_output(case: str, shared_dir: Path) -> None:
    src = _write(shared_dir / "in.btf", SMALL)
    src.chmod(0o644)
    kw: dict[str, object] = {}
    if case == "missing folder":
        out = shared_dir / "missing" / "out.btf"
    elif case == "read-only folder":
        (shared_dir / "ro").mkdir(mode=0o555)
        out = shared_dir / "ro" / "out.btf"
        kw = _as_nobody()
    elif case == "a directory":
        out = shared_dir / "dir"
        out.mkdir()
    else:
        out = src / "out.btf"
    err = one_error(run(["dedup", str(src), "-o", str(out)], **kw))
    assert str(out) in err and ".tmp" not in err
    leftovers = [p for p in shared_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_interrupted_long_run_is_one_line(sys_vmlinux: Path, tmp_path: Path) -> None:
    """Ctrl-C in the middle of real work (deduplicating a vmlinux, about a second), not only in a write.

    The work must still be running when the signal comes: on a fast, quiet machine the signal
    is sent sooner on each try."""
    for delay in (0.5, 0.25, 0.12):
        proc = subprocess.Popen([*BTFKIT, "dedup", str(sys_vmlinux), "-o", str(tmp_path / "out.btf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_bounded)  # noqa: PLW1509  # fmt: skip
        try:
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=TIMEOUT)
        finally:
            proc.kill()
        if proc.returncode != 0:
            break
    else:
        pytest.fail("the work ended before the signal each time: nothing was tested")
    assert proc.returncode == 130 and err == "btfkit: error: interrupted\n", err
    assert not (tmp_path / "out.btf").exists()


BAD_BASES = ["/dev/zero", "missing", "directory", "truncated", "name offset past the strings"]
BASE_COMMANDS: dict[str, Callable[[str, Path, Path], list[str]]] = {
    "info": lambda base, split, out: ["info", "-B", base, str(split)],
    "dump-c": lambda base, split, out: ["dump", "-f", "c", "-B", base, str(split)],
    "validate": lambda base, split, out: ["validate", "-B", base, str(split)],
    "dedup": lambda base, split, out: ["dedup", "-B", base, str(split), "-o", str(out)],
    "merge": lambda base, split, out: ["merge", "-B", base, str(split), "-o", str(out)],
}


@pytest.mark.parametrize("command", sorted(BASE_COMMANDS))
@pytest.mark.parametrize("case", BAD_BASES)
def test_bad_base(case: str, command: str, tmp_path: Path) -> None:
    if case in ("truncated", "name offset past the strings"):
        base = str(_write(tmp_path / "base.btf", BAD_BTF["truncated types" if case == "truncated" else case]))
    else:
        base = {"missing": str(tmp_path / "missing"), "directory": str(tmp_path)}.get(case, case)
    b = Builder(base=load(SMALL))
    b.add_ptr(2)
    split = _write(tmp_path / "split.btf", to_bytes(b.btf))
    out = tmp_path / "out.btf"
    one_error(run(BASE_COMMANDS[command](base, split, out)))
    assert not out.exists()


def test_endless_stream_behind_a_huge_btf_header(tmp_path: Path) -> None:
    """A header claiming 4 GiB, then zeros without end: refused before reading them."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    header = _patched(SMALL[:24], 12, "<I", 0xFFFFFFFC)  # type_len
    writer = subprocess.Popen(["sh", "-c", f"cat - /dev/zero > '{fifo}'"], stdin=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert writer.stdin is not None
        writer.stdin.write(header)
        writer.stdin.close()
        err = one_error(run(["info", str(fifo)]))
    finally:
        writer.kill()
        writer.wait()
    assert "claim" in err
