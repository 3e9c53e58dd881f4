"""C header dumps against bpftool 7.1 (and libbpf 1.1 through ctypes), and against the compilers.

Inputs: C files under tests/data/c compiled with every BTF producer at hand
(gcc -gbtf, gcc -g + pahole -J, clang for both BPF byte orders), the running
kernel's BTF, and the Debian kernel corpus (vmlinux and every module).  Each
header must equal bpftool's byte for byte and compile with gcc and clang; for
the hand-written inputs, every struct's size and member offsets
in the header must equal those of the original source.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import btfkit
from btfkit import BTF, BTFFormatError, Kind, NotFoundError
from btfkit.cli import main
from btfkit.format.build import Builder
from btfkit.format.kinds import IntEncoding
from btfkit.outputs.c import EPILOGUE, PREAMBLE, dump_c, iter_c, merge_modules, write_c
from btfkit.outputs.c.forked import dump_forked

from .compilers import clang, gcc_gbtf, gcc_pahole
from .conftest import Corpus, require, tool
from .strategies import Graph, type_graphs
from .test_dump import assert_same

C_DIR = Path(__file__).parent / "data" / "c"
FLAGS = ["-fno-eliminate-unused-debug-types"]


def bpftool_c(path: Path, base: Path | None = None) -> bytes:
    """``bpftool btf dump file PATH [-B BASE] format c``."""
    cmd = [tool("bpftool")] + (["-B", str(base)] if base is not None else [])
    cmd += ["btf", "dump", "file", str(path), "format", "c"]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def ours(btf: BTF, **kw: object) -> bytes:
    return dump_c(btf, **kw).encode("utf-8", "surrogateescape")  # type: ignore[arg-type]


def compiles(header: bytes, tmp_path: Path, name: str = "vmlinux.h") -> None:
    """The header passes gcc and clang (BPF target, which knows preserve_access_index)."""
    path = tmp_path / name
    path.write_bytes(header)
    for cmd in ([tool("gcc"), "-fsyntax-only", "-Werror=implicit-int", "-x", "c", str(path)],
                [tool("clang"), "-fsyntax-only", "-target", "bpf", "-x", "c", str(path)]):  # fmt: skip
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        assert done.returncode == 0, f"{cmd[0]} rejects {name}:\n{done.stderr[:3000]}"


# --- compiled inputs ----------------------------------------------------------------------------
_GCC_GBTF, _GCC_PAHOLE = gcc_gbtf(FLAGS), gcc_pahole(FLAGS)

OBJECTS: dict[str, tuple[str, Callable[[Path, Path], None]]] = {
    **{f"{topic}-gcc-gbtf": (f"cdump_{topic}.c", _GCC_GBTF) for topic in ("syntax", "layout", "names", "enums")},
    **{f"{topic}-gcc-pahole": (f"cdump_{topic}.c", _GCC_PAHOLE) for topic in ("syntax", "layout", "names", "enums")},
    "tags-bpfel": ("cdump_tags.c", clang("bpfel")),
    "tags-bpfeb": ("cdump_tags.c", clang("bpfeb")),
    "kinds-bpfel": ("dump_kinds.c", clang("bpfel")),
    "kinds-gcc-pahole": ("dump_kinds.c", _GCC_PAHOLE),
}
# Inputs whose layout the header must reproduce.  (cdump_enums.c has packed enums,
# which libbpf 1.1 writes without a size attribute: bpftool's header gets them wrong.)
LAYOUT_CHECKED = [name for name in OBJECTS if name.split("-")[0] in ("syntax", "layout", "names")]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("cdump")
    built = {}
    for name, (source, build) in OBJECTS.items():
        built[name] = out_dir / f"{name}.o"
        build(C_DIR / source, built[name])
    return built


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_object_matches_bpftool_and_compiles(objects: dict[str, Path], name: str, tmp_path: Path) -> None:
    header = ours(btfkit.load(objects[name]))
    assert_same(header, bpftool_c(objects[name]), name)
    compiles(header, tmp_path)


def test_inputs_reach_the_constructs(objects: dict[str, Path]) -> None:
    # The headers above really contain what the C dumper must get right.
    text = "".join(dump_c(btfkit.load(path)) for path in objects.values())
    for needle in ("___2", "__attribute__((packed))", "long: ", ": 0;", "(*", ")[", "][",
                   "...)", "(void)", "LL,", "ULL,", "-3,", "btf_type_tag", "const volatile",
                   "restrict", "enum {", "union {", "char data[0]", "__builtin_va_list",
                   "struct empty_s {}", "int: 28;", "long: 64;"):  # fmt: skip
        assert needle in text, needle


def _file_scope_tags(source: Path) -> list[str]:
    """``struct x``/``union x`` defined at file scope (at the start of a line) in ``source``."""
    return re.findall(r"^((?:struct|union) \w+)(?: __attribute__\(\([^)]*\)\))? \{", source.read_text(), re.M)


def _checker(btf: BTF, tags: Iterable[str]) -> str:
    """C code printing the size and member offsets of ``tags`` (members read from BTF).

    Alignment is left out: BTF does not record ``aligned`` attributes and
    libbpf 1.1 does not write them, so only what the layout shows can match.
    """
    lines = []
    for tag in tags:
        kw, name = tag.split()
        t = btf.find(name, Kind.STRUCT if kw == "struct" else Kind.UNION)
        lines.append(f'printf("{tag} %zu\\n", sizeof({tag}));')
        lines.extend(
            f'printf("{tag}.{m.name} %zu\\n", offsetof({tag}, {m.name}));'
            for m in t.members
            if m.name and not m.bitfield_size and m.bit_offset % 8 == 0
        )
    body = "\n\t".join(lines)
    return f"#include <stdio.h>\n#include <stddef.h>\nint main(void)\n{{\n\t{body}\n\treturn 0;\n}}\n"


def _run_c(code: str, path: Path) -> str:
    path.write_text(code)
    exe = path.with_suffix("")
    subprocess.run([tool("gcc"), "-w", "-o", str(exe), str(path)], check=True)
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("name", LAYOUT_CHECKED)
def test_layout_matches_source(objects: dict[str, Path], name: str, tmp_path: Path) -> None:
    source = C_DIR / OBJECTS[name][0]
    btf = btfkit.load(objects[name])
    tags = _file_scope_tags(source)
    assert tags, "the source defines structs at file scope"
    check = _checker(btf, tags)
    (tmp_path / "vmlinux.h").write_text(dump_c(btf))
    original = _run_c(f'#include "{source}"\n{check}', tmp_path / "orig.c")
    from_header = _run_c(f'#include "vmlinux.h"\n{check}', tmp_path / "hdr.c")
    assert original.count("\n") > len(tags)
    assert from_header == original


def test_byte_orders_give_one_header(objects: dict[str, Path]) -> None:
    assert dump_c(btfkit.load(objects["tags-bpfeb"])) == dump_c(btfkit.load(objects["tags-bpfel"]))


# --- libbpf 1.1 through ctypes: btf_dump__dump_type for chosen roots ------------------------------
_PRINTF = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)


def libbpf_dump_types(path: Path, ids: Iterable[int], base: Path | None = None) -> bytes:
    """What libbpf's btf_dump writes for ``btf_dump__dump_type(id)`` over ``ids``, in order."""
    try:
        lib = ctypes.CDLL("libbpf.so.1")
        libc = ctypes.CDLL(None)
    except OSError:
        require(False, "libbpf.so.1 is not installed (scripts/setup installs libbpf1)")
        raise
    lib.btf__parse.restype = ctypes.c_void_p
    lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__parse_split.restype = ctypes.c_void_p
    lib.btf__parse_split.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__free.argtypes = [ctypes.c_void_p]
    lib.btf_dump__new.restype = ctypes.c_void_p
    lib.btf_dump__new.argtypes = [ctypes.c_void_p, _PRINTF, ctypes.c_void_p, ctypes.c_void_p]
    lib.btf_dump__dump_type.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf_dump__free.argtypes = [ctypes.c_void_p]
    libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    chunks: list[bytes] = []
    buf = ctypes.create_string_buffer(1 << 20)

    # On x86-64 a va_list argument arrives as a pointer; vsnprintf formats it.
    def printf(_ctx: int | None, fmt: bytes, args: int | None) -> None:
        n = libc.vsnprintf(buf, len(buf), fmt, args)
        assert 0 <= n < len(buf)
        chunks.append(buf.raw[:n])

    callback = _PRINTF(printf)
    base_btf = lib.btf__parse(str(base).encode(), None) if base is not None else None
    btf = (lib.btf__parse_split(str(path).encode(), base_btf) if base_btf
           else lib.btf__parse(str(path).encode(), None))  # fmt: skip
    assert btf, f"libbpf cannot parse {path}"
    dumper = lib.btf_dump__new(btf, callback, None, None)
    try:
        for tid in ids:
            assert lib.btf_dump__dump_type(dumper, tid) == 0
    finally:
        lib.btf_dump__free(dumper)
        lib.btf__free(btf)
        if base_btf:
            lib.btf__free(base_btf)
    return b"".join(chunks)


def _reachable(btf: BTF, roots: Iterable[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        tid = todo.pop()
        if tid and tid not in seen:
            seen.add(tid)
            todo.extend(btf[tid].refs())
    return seen


def _declared_names(header: str) -> set[str]:
    """Tags and typedef names the header defines or declares at top level."""
    tags = re.findall(r"^(?:struct|union|enum) (\w+)", header, re.M)
    typedefs = re.findall(r"^typedef .*?(\w+)(?:\[\d+\])*;$", header, re.M)
    typedefs += re.findall(r"^typedef [^;(]*\(\*(\w+)\)", header, re.M)
    return {re.sub(r"___\d+$", "", n) for n in tags + typedefs}


@pytest.mark.parametrize("roots", [["task_struct"], ["sk_buff", "pt_regs"], ["list_head"]])
def test_type_roots_are_exactly_their_closure(sys_vmlinux: Path, roots: list[str], tmp_path: Path) -> None:
    btf = btfkit.load(sys_vmlinux)
    ids = [t.id for name in roots for t in btf.find_all(name)]
    header = dump_c(btf, roots=roots)
    # Byte for byte what libbpf's btf_dump writes for these roots...
    expected = PREAMBLE.encode() + libbpf_dump_types(sys_vmlinux, ids) + EPILOGUE.encode()
    assert_same(header.encode(), expected, f"roots {roots}")
    # ... which defines the roots, names nothing the roots cannot reach, and compiles.
    reach = {btf.name_of(t) for t in _reachable(btf, ids)}
    declared = _declared_names(header)
    assert set(roots) <= declared
    assert declared <= reach
    compiles(header.encode(), tmp_path)


def test_roots_by_id_and_errors(objects: dict[str, Path]) -> None:
    btf = btfkit.load(objects["syntax-gcc-gbtf"])
    node = btf.find("node", Kind.STRUCT).id
    assert dump_c(btf, roots=[node]) == dump_c(btf, roots=["node"])
    assert "struct node {" in dump_c(btf, roots=[node])
    assert "struct fnptrs" not in dump_c(btf, roots=[node])
    with pytest.raises(NotFoundError, match="no_such_type"):
        dump_c(btf, roots=["no_such_type"])


# --- sorting ----------------------------------------------------------------------------------
def _definitions(header: str) -> list[str]:
    """Top-level definition lines with ___N suffixes removed (forward declarations left out)."""
    lines = [ln for ln in header.splitlines() if ln and not ln[0].isspace() and ln[0] not in "#}"]
    return sorted(re.sub(r"___\d+\b", "", ln) for ln in lines if not re.fullmatch(r"(struct|union) \w+;", ln))


def test_sorted_header_keeps_every_type_and_compiles(sys_vmlinux: Path, tmp_path: Path) -> None:
    btf = btfkit.load(sys_vmlinux)
    unsorted, by_name = dump_c(btf), dump_c(btf, sort=True)
    assert by_name != unsorted
    # The same definitions, the first one of the sorted order included (newer
    # bpftool drops it), each exactly once.
    assert _definitions(by_name) == _definitions(unsorted)
    compiles(by_name.encode(), tmp_path)
    # Named enums come before structs, and struct definitions that nothing
    # pulled forward follow their names' order.
    assert by_name.index("\nenum ") < by_name.index("\nstruct ")
    assert dump_c(btf, sort=True) == by_name


def test_sort_and_roots_on_small_objects(objects: dict[str, Path], tmp_path: Path) -> None:
    for name in ("syntax-gcc-pahole", "layout-gcc-gbtf", "names-gcc-pahole"):
        btf = btfkit.load(objects[name])
        by_name = dump_c(btf, sort=True)
        assert _definitions(by_name) == _definitions(dump_c(btf))
        compiles(by_name.encode(), tmp_path, f"{name}.h")


# --- the running kernel -----------------------------------------------------------------------
BPF_PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(probe)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int pid = BPF_CORE_READ(task, pid);
	int ppid = BPF_CORE_READ(task, real_parent, tgid);
	const char *name = BPF_CORE_READ(task, mm, owner, comm);

	bpf_printk("pid %d ppid %d %p", pid, ppid, name);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_sys_vmlinux_matches_bpftool(sys_vmlinux: Path, tmp_path: Path) -> None:
    header = ours(btfkit.load(sys_vmlinux))
    assert_same(header, bpftool_c(sys_vmlinux), str(sys_vmlinux))
    assert ours(btfkit.load(sys_vmlinux), parallel=True) == header  # two processes (fork)
    compiles(header, tmp_path)
    # A CO-RE program against it builds.
    require(Path("/usr/include/bpf/bpf_core_read.h").exists(), "libbpf-dev headers are not installed")
    (tmp_path / "vmlinux.h").write_bytes(header)
    (tmp_path / "prog.bpf.c").write_text(BPF_PROG)
    done = subprocess.run([tool("clang"), "-target", "bpf", "-g", "-O2", "-D__TARGET_ARCH_x86",
                           "-I", str(tmp_path), "-c", str(tmp_path / "prog.bpf.c"),
                           "-o", str(tmp_path / "prog.bpf.o")], check=False, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[:3000]
    relocs = btfkit.load(tmp_path / "prog.bpf.o")
    assert relocs.find("task_struct", Kind.STRUCT)


def test_streaming_equals_whole(sys_vmlinux: Path, tmp_path: Path) -> None:
    btf = btfkit.load(sys_vmlinux)
    pieces = list(iter_c(btf))
    assert len(pieces) > 1000
    with (tmp_path / "v.h").open("w", encoding="utf-8", errors="surrogateescape") as f:
        write_c(btf, f)
    assert "".join(pieces) == (tmp_path / "v.h").read_text(errors="surrogateescape") == dump_c(btf)


# --- the Debian corpus ----------------------------------------------------------------------
CHUNKS = 8


@pytest.mark.corpus
def test_corpus_vmlinux_matches_bpftool(corpus: Corpus, tmp_path: Path) -> None:
    header = ours(corpus.base)
    assert_same(header, bpftool_c(corpus.vmlinux), "vmlinux")
    assert ours(corpus.base, parallel=True) == header  # two processes (fork)
    compiles(header, tmp_path)


@pytest.mark.corpus
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_corpus_modules_match_bpftool(corpus: Corpus, chunk: int) -> None:
    # Each module's header starts with the whole of vmlinux: btfkit dumps the base once
    # and carries its state into every module, bpftool runs in two threads meanwhile.
    modules = corpus.modules[chunk::CHUNKS]
    assert modules
    problems = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = [pool.submit(bpftool_c, m, corpus.vmlinux) for m in modules]
        for module, future in zip(modules, theirs, strict=True):
            mine = ours(btfkit.load(module, corpus.base))
            if mine != future.result():
                problems.append(module.name)
    assert not problems, f"{len(problems)} modules differ, first ones: {problems[:10]}"


@pytest.mark.corpus
def test_merged_modules(corpus: Corpus, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    paths = [m for m in corpus.modules if m.parent.name in ("nfs", "nfsv4", "lockd", "sunrpc")][:4]
    assert len(paths) >= 2
    mods = [btfkit.load(p, corpus.base) for p in paths]
    merged = merge_modules(mods)
    assert len(merged) < sum(map(len, mods)), "shared types are deduplicated"
    header = ours(merged)
    # bpftool agrees on the merged BTF's header ...
    btfkit.write(merged, tmp_path / "merged.btf")
    assert_same(header, bpftool_c(tmp_path / "merged.btf", corpus.vmlinux), "merged")
    compiles(header, tmp_path)
    # ... and every type any module defines is in it.
    merged_names = _declared_names(header.decode())
    base_len = len(ours(corpus.base)) - len(EPILOGUE)
    for mod in mods:
        own = ours(mod)[base_len:].decode()
        assert _declared_names(own) <= merged_names
    # The CLI merges the same way.
    assert main(["dump", *map(str, paths), "-B", str(corpus.vmlinux), "-f", "c"]) == 0
    assert capsysbinary.readouterr().out == header


# --- two processes (dump_c(..., parallel=True)) --------------------------------------------
def _forked(btf: BTF, split: int) -> str:
    """The header as the two-process dump writes it, split at root ``split``."""
    return PREAMBLE + "".join(dump_forked(btf, split)[0]) + EPILOGUE


def _clashing_names() -> BTF:
    """Types and enum values that share names, met on both sides of every split point."""
    b = Builder()
    i = b.add_int("int", 4, IntEncoding.SIGNED)
    dup_a = b.add_struct("dup", 4, [("a", i, 0)])
    b.add_fwd("dup")  # forward declarations do not take a suffix
    t_a = b.add_typedef("T", dup_a)
    e1 = b.add_enum("e1", 4, [("X", 1), ("Y", 2)])
    dup_b, e2 = 8, 10  # user1 refers to later types: its members are met when it is written
    b.add_struct("user1", 16, [("m", dup_b, 0), ("t", t_a, 64), ("e", e2, 96)])
    dup_u = b.add_union("dup", 4, [("u", i, 0)])
    assert b.add_struct("dup", 8, [("b", i, 0), ("c", i, 32)]) == dup_b
    t_b = b.add_typedef("T", dup_b)
    assert b.add_enum("e2", 4, [("X", 3), ("Z", 4)]) == e2
    x = b.add_typedef("X", i)  # an identifier, as enum values are
    anon = b.add_enum("", 4, [("Z", 5), ("Y", 6)])
    b.add_struct("user2", 28, [("p", b.add_ptr(dup_a), 0), ("t", t_b, 64), ("e", e1, 128),
                               ("x", x, 160), ("v", anon, 192)])  # fmt: skip
    b.add_typedef("T", dup_u)
    b.add_enum("e3", 4, [("X", 7)])
    return b.btf


def test_forked_dump_settles_shared_names_at_every_split(tmp_path: Path) -> None:
    btf = _clashing_names()
    whole = dump_c(btf)
    assert "dup___2" in whole and "T___3" in whole and "X___3" in whole
    btfkit.write(btf, tmp_path / "clash.btf")
    assert_same(whole.encode(), bpftool_c(tmp_path / "clash.btf"), "clashing names")
    for split in range(1, btf.type_count + 1):
        assert _forked(btf, split) == whole, f"split at {split}"


def test_forked_dump_of_compiled_objects(objects: dict[str, Path]) -> None:
    for path in objects.values():
        btf = btfkit.load(path)
        whole = dump_c(btf)
        for split in sorted({1, btf.type_count // 3, btf.type_count // 2, btf.type_count}):
            assert _forked(btf, split) == whole, f"{path.name}, split at {split}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=type_graphs(max_types=40), where=st.floats(0, 1))
def test_forked_dump_of_random_graphs(graph: Graph, where: float) -> None:
    # Names come from small pools, so suffixes abound; every kind appears.
    btf = graph.build()
    split = 1 + int(where * (btf.type_count - 1))
    try:
        whole = dump_c(btf)
    except BTFFormatError as exc:
        with pytest.raises(BTFFormatError, match=re.escape(str(exc))):
            _forked(btf, split)
        return
    assert _forked(btf, split) == whole


def test_forked_dump_errors_as_one_process_does() -> None:
    b = Builder()
    i = b.add_int("int", 4, IntEncoding.SIGNED)
    for n in range(20):
        b.add_struct(f"s{n}", 4, [("a", i, 0)])
    s = b.add_struct("self", 8, [("a", i, 0)])
    b.add_member("again", s, 32)  # contains itself: no C can say it
    with pytest.raises(BTFFormatError, match="cycle"):
        dump_forked(b.btf, 5)
    # A dangling reference: the check, which the first process makes, refuses it.
    b.add_ptr(999)
    with pytest.raises(BTFFormatError, match="999"):
        dump_forked(b.btf, 5)


# --- CLI and errors -------------------------------------------------------------------------
def test_cli(objects: dict[str, Path], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = str(objects["syntax-gcc-pahole"])
    btf = btfkit.load(path)
    assert main(["dump", path, "--format", "c"]) == 0
    assert capsysbinary.readouterr().out == ours(btf)
    assert main(["dump", path, "-f", "c", "--sort"]) == 0
    assert capsysbinary.readouterr().out == ours(btf, sort=True)
    assert main(["dump", path, "-f", "c", "--type", "node", "--type", "arrays"]) == 0
    assert capsysbinary.readouterr().out == ours(btf, roots=["node", "arrays"])
    assert main(["dump", path, "-f", "c", "--type", "nope"]) == 1
    assert b"no type named 'nope'" in capsysbinary.readouterr().err
    assert main(["dump", path, "--sort"]) == 1
    assert b"--format c" in capsysbinary.readouterr().err
    assert main(["dump", path, path, "-f", "c"]) == 1
    assert b"needs their base" in capsysbinary.readouterr().err


def test_uncompilable_graphs_raise() -> None:
    # A struct that contains itself by value.
    b = Builder()
    i = b.add_int("int", 4, 1)
    s = b.add_struct("self", 8)
    b.add_member("a", i, 0)
    b.add_member("again", s, 32)
    with pytest.raises(BTFFormatError, match="cycle"):
        dump_c(b.btf)
    # Pointers that point at each other.
    b = Builder()
    b.add_ptr(2)
    b.add_ptr(1)
    with pytest.raises(BTFFormatError, match=r"type \[\d\]"):
        dump_c(b.btf)
    # A const that qualifies itself.
    b = Builder()
    b.add_const(1)
    with pytest.raises(BTFFormatError):
        dump_c(b.btf)
