"""The type model against gcc: sizes, alignments and offsets of a real kernel's structs.

The oracle is gcc compiling the header bpftool 7.1 writes for the corpus
vmlinux (``bpftool btf dump file vmlinux format c``): for 200 named structs and
unions (the largest, ones with anonymous members, ones with bitfields, and an
even spread of the rest), ``_Static_assert`` checks ``sizeof``, ``_Alignof`` and
``offsetof`` of every member path (anonymous members, nested structs and array
elements included) and the size and alignment of each member's type; a bitfield's
offset, which ``offsetof`` cannot give, is found by running a program that sets
the bitfield's bits.  The model's answers for misuse (a kind without the
accessor, a missing member, a bitfield's byte offset) are checked to raise.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import btfkit
from btfkit import (
    BTF,
    AmbiguousError,
    BitfieldError,
    BTFError,
    Kind,
    KindError,
    MemberNotFoundError,
    Type,
)
from btfkit.outputs.c import dump_c

from .conftest import Corpus, tool
from .strategies import Graph, split_graphs

SAMPLE = 200
MAX_DEPTH = 4  # nesting followed into member structs


def _unique_composites(btf: BTF) -> list[Type]:
    """Named structs and unions whose name no other struct or union has (bpftool writes
    those without a ``___N`` suffix)."""
    seen: dict[str, list[Type]] = {}
    for t in btf.types():
        if t.kind in (Kind.STRUCT, Kind.UNION) and t.name:
            seen.setdefault(t.name, []).append(t)
    return [ts[0] for ts in seen.values() if len(ts) == 1]


def _has_anonymous(t: Type) -> bool:
    return any(not m.name and not m.bitfield_size for m in t.members)


def _has_bitfield(t: Type) -> bool:
    return any(m.bitfield_size for m in t.members)


def sample(btf: BTF, count: int = SAMPLE) -> list[Type]:
    """``count`` structs and unions, chosen deterministically."""
    pool = sorted(_unique_composites(btf), key=lambda t: t.id)
    picked: dict[int, Type] = {}

    def take(ts: list[Type], n: int) -> None:
        step = max(1, len(ts) // n) if ts else 1
        for t in ts[::step][:n]:
            picked.setdefault(t.id, t)

    take(sorted(pool, key=lambda t: (-t.size, t.id))[:20], 20)
    take([t for t in pool if _has_anonymous(t)], 60)
    take([t for t in pool if _has_bitfield(t)], 60)
    rest = [t for t in pool if t.id not in picked]
    take(rest, count - len(picked))
    return sorted(picked.values(), key=lambda t: t.id)[:count]


def member_paths(t: Type, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, btfkit.Member]]:
    """(path, member) for every named member reachable from ``t``, as C spells the path."""
    for m in t.members:
        inner = m.type.resolved
        if m.name:
            path = f"{prefix}.{m.name}" if prefix else m.name
            yield path, m
        else:
            path = prefix
        if inner is None or m.bitfield_size or depth >= MAX_DEPTH:
            continue
        if inner.kind == Kind.ARRAY and m.name:
            arr = inner.array
            elem = inner.btf[arr.type_id].resolved if arr.type_id else None
            if arr.nelems >= 2:
                yield from _indexed(inner, path, depth)
            inner = elem
            path = f"{path}[{arr.nelems - 1 if arr.nelems else 0}]"
        if inner is not None and inner.kind in (Kind.STRUCT, Kind.UNION):
            yield from member_paths(inner, path, depth + 1)


def _indexed(arr: Type, path: str, depth: int) -> Iterator[tuple[str, btfkit.Member]]:
    """An array element's own path (``a[1]``) as a pseudo-member of the element type."""
    elem_id = arr.array.type_id
    yield f"{path}[1]", btfkit.Member("", elem_id, 0, 0, arr.btf)


def _is_const(m: btfkit.Member) -> bool:
    t: Type | None = m.type
    while t is not None and t.kind in (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
        if t.kind == Kind.CONST:
            return True
        t = t.target
    return False


def checks(btf: BTF, types: list[Type]) -> tuple[list[str], list[tuple[str, str, int]]]:
    """Static asserts (C lines) and bitfield probes (tag, path, expected bit offset)."""
    asserts: list[str] = []
    probes: list[tuple[str, str, int]] = []

    def check(expr: str, value: int) -> None:
        asserts.append(f'_Static_assert({expr} == {value}, "{expr}");')

    for t in types:
        tag = f"{'struct' if t.kind == Kind.STRUCT else 'union'} {t.name}"
        check(f"sizeof({tag})", btf.sizeof(t))
        check(f"_Alignof({tag})", btf.alignof(t))
        assert btf.sizeof(tag) == btf.sizeof(t.id) == btf.sizeof(t)
        for path, m in member_paths(t):
            if m.bitfield_size:
                assert (m.offset is None) == (t.bit_offsetof(path) % 8 != 0)
                with pytest.raises(BitfieldError):
                    t.offsetof(path)
                if not _is_const(m):
                    probes.append((tag, path, t.bit_offsetof(path)))
                continue
            check(f"__builtin_offsetof({tag}, {path})", t.offsetof(path))
            check(f"sizeof((({tag} *)0)->{path})", btf.sizeof(m.type))
            check(f"_Alignof(__typeof__((({tag} *)0)->{path}))", btf.alignof(m.type))
            assert t.bit_offsetof(path) == 8 * t.offsetof(path)
    return asserts, probes


def _probe_program(probes: list[tuple[str, str, int]]) -> str:
    """C that sets each bitfield's bits in a zeroed object and prints the first bit set."""
    body = []
    for n, (tag, path, _) in enumerate(probes):
        body.append(
            f"{{ static {tag} v{n}; memset(&v{n}, 0, sizeof(v{n})); v{n}.{path} = -1;"
            f" printf(\"%d\\n\", first_bit(&v{n}, sizeof(v{n}))); }}"
        )
    return (
        "static int first_bit(const void *p, unsigned long n)\n"
        "{\n\tconst unsigned char *b = p;\n"
        "\tfor (unsigned long i = 0; i < n * 8; i++)\n"
        "\t\tif (b[i / 8] >> (i % 8) & 1)\n\t\t\treturn (int)i;\n\treturn -1;\n}\n"
        "int main(void)\n{\n\t" + "\n\t".join(body) + "\n\treturn 0;\n}\n"
    )


@pytest.fixture(scope="module")
def header(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "vmlinux.h"
    text = subprocess.run([tool("bpftool"), "btf", "dump", "file", str(corpus.vmlinux), "format", "c"],
                          check=True, capture_output=True).stdout  # fmt: skip
    out.write_bytes(text)
    return out


def test_layout_equals_gcc(corpus: Corpus, header: Path) -> None:
    btf = corpus.base
    types = sample(btf)
    assert len(types) == SAMPLE
    largest = max((t for t in btf.types() if t.kind in (Kind.STRUCT, Kind.UNION)), key=lambda t: t.size)
    assert any(t.size == largest.size for t in types)
    assert sum(map(_has_anonymous, types)) >= 50 and sum(map(_has_bitfield, types)) >= 50
    asserts, probes = checks(btf, types)
    assert len(probes) > 100
    src = header.parent / "layout.c"
    src.write_text(
        "#define BPF_NO_PRESERVE_ACCESS_INDEX\n"
        f'#include "{header.name}"\n'
        "extern int printf(const char *, ...);\n"
        "extern void *memset(void *, int, unsigned long);\n"
        + "\n".join(asserts) + "\n" + _probe_program(probes)
    )
    exe = header.parent / "layout"
    build = subprocess.run([tool("gcc"), "-w", "-O0", str(src), "-o", str(exe)],
                           check=False, capture_output=True, text=True)  # fmt: skip
    assert build.returncode == 0, build.stderr[:3000]
    got = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    wrong = [(tag, path, want, int(have)) for (tag, path, want), have in zip(probes, got, strict=True)
             if int(have) != want]  # fmt: skip
    assert not wrong, wrong[:10]


def test_c_text_equals_bpftool_block(corpus: Corpus, header: Path) -> None:
    """``str(t)`` is the block bpftool's header has for ``t`` (blocks end with ``;`` and a blank line)."""
    btf = corpus.base
    blocks = set(header.read_text().split("\n\n"))  # no block has a blank line inside
    typedefs = [t for t in btf.types() if t.kind == Kind.TYPEDEF][::97]
    enums = [t for t in btf.types() if t.kind == Kind.ENUM and t.name and t.vlen][::23]
    checked = 0
    for t in [*sample(btf), *enums]:
        tag = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum"}[t.kind]
        text = str(t)
        assert text.split("\n", 1)[0].startswith(f"{tag} {t.name}")
        assert text in blocks, t
        checked += 1
    for t in typedefs:
        text = str(t)
        assert text.startswith("typedef ") and text in blocks, t
        checked += 1
    assert checked > 250


# --- misuse ------------------------------------------------------------------------------------


def test_accessors_that_do_not_apply_raise(corpus: Corpus) -> None:
    btf = corpus.base
    int_t = btf.type("int")
    ptr = next(t for t in btf.types() if t.kind == Kind.PTR)
    struct = btf.type("struct task_struct")
    for t, attr in [(int_t, "members"), (int_t, "values"), (int_t, "params"), (int_t, "vars"),
                    (int_t, "array"), (int_t, "target"), (int_t, "linkage"), (struct, "array"),
                    (struct, "type_id"), (struct, "encoding"), (ptr, "size"), (ptr, "members")]:  # fmt: skip
        with pytest.raises(KindError, match=t.spec.label):
            getattr(t, attr)
    with pytest.raises(KindError):
        int_t["x"]
    with pytest.raises(MemberNotFoundError) as missing:
        struct["no_such_member"]
    assert isinstance(missing.value, KeyError)
    with pytest.raises(MemberNotFoundError):
        struct.offsetof("se.no_such")
    with pytest.raises(KindError):
        struct.offsetof("pid.x")  # an int has no members
    with pytest.raises(KindError):
        struct.offsetof("pid[2]")  # nor is it an array
    func = next(t for t in btf.types() if t.kind == Kind.FUNC)
    with pytest.raises(KindError):
        btf.sizeof(func)
    with pytest.raises(KindError):
        btf.alignof(func.type_id)


def test_lookup_by_c_name(corpus: Corpus) -> None:
    btf = corpus.base
    ts = btf.type("struct task_struct")
    assert (ts.kind, ts.name) == (Kind.STRUCT, "task_struct")
    assert btf.type(ts.id) == ts == btf.type("task_struct") == btf.type("  struct   task_struct ")
    assert btf.type("unsigned long") == btf.type("long unsigned int")
    assert btf.type("typedef u32").resolved == btf.type("unsigned int")
    with pytest.raises(btfkit.NotFoundError, match="task_struct"):
        btf.type("struct task_strct")
    dup = next(name for name, n in _name_counts(btf).items() if n > 1)
    with pytest.raises(btfkit.AmbiguousError) as many:
        btf.type(dup)
    assert len(many.value.candidates) > 1
    assert all(isinstance(c, Type) and c.name == dup for c in many.value.candidates)


def _name_counts(btf: BTF) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in btf.types():
        if t.name and t.kind not in (Kind.FWD,):
            counts[t.name] = counts.get(t.name, 0) + 1
    return counts


# --- properties on random type graphs ----------------------------------------------------------

_ACCESSORS = ("size", "type_id", "target", "resolved", "members", "values", "params", "vars", "array",
              "encoding", "bits", "linkage", "component_idx", "name", "kind", "vlen")  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_graphs())
def test_model_on_random_graphs(pair: tuple[Graph, Graph]) -> None:
    """Look-ups agree with the name index, every accessor either answers or raises a
    BTFError, and sizes and offsets agree with the members and the ``size`` words."""
    base = pair[0].build()
    btf = pair[1].build(base)
    for t in btf.types(include_base=True):
        repr(t)
        try:
            text = str(t)
        except BTFError:  # a graph C cannot express (a pointer cycle through anonymous types)
            with pytest.raises(BTFError):
                dump_c(btf)
        else:
            assert text in dump_c(btf) if t.name and t.kind in (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF) else True
        for attr in _ACCESSORS:
            with contextlib.suppress(BTFError):
                getattr(t, attr)
        if t.name:
            scanned = btf._named(t.name, None)  # no index built for these...
            assert scanned == btf.find_all(t.name)  # ...and the index agrees
            named = btf.find_all(t.name)
            defined = [c for c in named if not (c.kind == Kind.FWD or (c.kind in (Kind.ENUM, Kind.ENUM64)
                                                                       and not c.vlen))] or named  # fmt: skip
            try:
                assert [btf.type(t.name)] == defined
            except AmbiguousError as e:
                assert list(e.candidates) == defined and len(defined) > 1
        if t.kind in (Kind.STRUCT, Kind.UNION):
            assert btf.sizeof(t) == t.size
            names = [m.name for m in t.members]
            for m in t.members:
                if m.name and names.count(m.name) == 1:
                    assert t[m.name] == m
                    assert t.bit_offsetof(m.name) == m.bit_offset
        try:
            size = btf.sizeof(t)
        except BTFError:
            continue
        assert size >= 0
        if size and t.kind not in (Kind.VAR, Kind.DATASEC, Kind.DECL_TAG):  # not C types
            assert btf.alignof(t) in (1, 2, 4, 8, 16)
