"""The running kernel is the oracle for validation: what it rejects, btfkit rejects.

Every blob here goes through bpf(BPF_BTF_LOAD) and through
:func:`btfkit.format.validate.validate_bytes`; the two verdicts must agree.  A kernel
that refuses to load BTF at all (no privilege, no bpf()) skips these tests with
its reason, in CI too: that is the machine's policy, not a missing tool.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import btfkit
from btfkit import BTFError, IntEncoding, Kind, Linkage
from btfkit.format.build import Builder
from btfkit.format.validate import validate, validate_bytes

from . import kernel_oracle
from .conftest import Corpus
from .strategies import Graph, type_graphs

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module", autouse=True)
def _kernel_loads_btf() -> None:
    reason = kernel_oracle.probe()
    if reason is not None:
        pytest.skip(reason)


# --- a small raw-BTF notation for hand-made blobs ------------------------------------------
# Strings of every test blob; N[...] is a name's offset.
_NAMES = ["int", "s", "m", "f", "v", ".data", "a b", "1x", "tag", "e", "A"]
STRS = b"\0" + b"".join(n.encode("latin-1") + b"\0" for n in _NAMES)
N = {n: STRS.index(b"\0" + n.encode("latin-1") + b"\0") + 1 for n in _NAMES}


def info(kind: int, vlen: int = 0, kflag: int = 0) -> int:
    return (kflag << 31) | (kind << 24) | vlen


def INT(name: str = "int", size: int = 4, bits: int = 32, enc: int = 0, off: int = 0) -> list[int]:
    return [N[name] if name else 0, info(Kind.INT), size, enc << 24 | off << 16 | bits]


def REF(kind: int, target: int, name: str = "", kflag: int = 0, vlen: int = 0) -> list[int]:
    return [N[name] if name else 0, info(kind, vlen, kflag), target]


def blob(
    *records: list[int],
    strs: bytes = STRS,
    magic: int = 0xEB9F,
    version: int = 1,
    flags: int = 0,
    hdr_len: int = 24,
    type_off: int = 0,
    str_off: int | None = None,
    type_len: int | None = None,
    str_len: int | None = None,
    between: bytes = b"",
    tail: bytes = b"",
    order: str = "=",
    pad_header: bool = True,
) -> bytes:
    """Header + types + ``between`` + strings + ``tail``, native order unless ``order`` says."""
    types = b"".join(struct.pack(f"{order}{len(r)}I", *r) for r in records)
    tl = len(types) if type_len is None else type_len
    so = type_off + len(types) + len(between) if str_off is None else str_off
    sl = len(strs) if str_len is None else str_len
    header = struct.pack(f"{order}HBBI4I", magic, version, flags, hdr_len, type_off, tl, so, sl)
    if pad_header and hdr_len >= 24:
        header = header.ljust(hdr_len, b"\0")
    body = b"\0" * type_off + types + between + strs
    return header + body + tail


INT4 = INT()  # [1] INT int, 4 bytes; most cases start from it
# A valid struct s { int m; } as [2], used by several DECL_TAG cases.
S = [N["s"], info(Kind.STRUCT, 1), 4, N["m"], 1, 0]
PROTO = [0, info(Kind.FUNC_PROTO, 1), 1, N["m"], 1]  # int (int m)

# Malformed inputs: each one the kernel rejects, and btfkit must too.
MALFORMED: dict[str, Callable[[], bytes]] = {
    # header and section layout
    "bad magic": lambda: blob(INT4, magic=0xEB9E),
    "other byte order": lambda: blob(INT4, order=">" if sys.byteorder == "little" else "<"),
    "version 2": lambda: blob(INT4, version=2),
    "flags set": lambda: blob(INT4, flags=1),
    "header shorter than 24": lambda: blob(INT4, hdr_len=16),
    "header longer than the blob": lambda: blob(INT4, hdr_len=4096, pad_header=False),
    "unknown non-zero header field": lambda: (
        blob(INT4, hdr_len=28)[:24] + b"\1\0\0\0" + blob(INT4)[24:]
    ),
    "gap before the types": lambda: blob(INT4, type_off=4),
    "gap between types and strings": lambda: blob(INT4, between=b"\0\0\0\0"),
    "sections overlap": lambda: blob(INT4, str_off=12),
    "trailing data": lambda: blob(INT4, tail=b"\0\0\0\0"),
    "type section runs past the data": lambda: blob(INT4, type_len=64),
    "unaligned type_off": lambda: blob(INT4, type_off=2),
    "strings before types": lambda: (
        struct.pack("=HBBI4I", 0xEB9F, 1, 0, 24, len(STRS), 16, 0, len(STRS))
        + STRS
        + struct.pack("=4I", *INT4)
    ),
    "no types": blob,
    "empty string section": lambda: blob(INT4, strs=b""),
    "strings not NUL-started": lambda: blob(INT(""), strs=b"x\0"),
    "strings not NUL-ended": lambda: blob(INT4, strs=STRS + b"x"),
    # one record on its own
    "name offset out of range": lambda: blob([len(STRS) + 5, info(Kind.INT), 4, 32]),
    "record cut short": lambda: blob(INT4, [0, info(Kind.INT), 4]),
    "unknown kind 20": lambda: blob(INT4, [0, info(20), 0]),
    "kind 0": lambda: blob(INT4, [0, 0, 0]),
    "unused info bits": lambda: blob([N["int"], info(Kind.INT) | 1 << 16, 4, 32]),
    "kind_flag on INT": lambda: blob([N["int"], info(Kind.INT, kflag=1), 4, 32]),
    "kind_flag on PTR": lambda: blob(INT4, REF(Kind.PTR, 1, kflag=1)),
    "kind_flag on TYPEDEF": lambda: blob(INT4, REF(Kind.TYPEDEF, 1, "s", kflag=1)),
    "kind_flag on FUNC": lambda: blob(INT4, PROTO, REF(Kind.FUNC, 2, "f", kflag=1)),
    "kind_flag on FLOAT": lambda: blob([N["f"], info(Kind.FLOAT, kflag=1), 8]),
    "vlen on INT": lambda: blob([N["int"], info(Kind.INT, 1), 4, 32]),
    "vlen on PTR": lambda: blob(INT4, REF(Kind.PTR, 1, vlen=1)),
    "INT bits > size*8": lambda: blob(INT(size=4, bits=33)),
    "INT bits+offset > 128": lambda: blob(INT(size=16, bits=120, off=16)),
    "INT encoding SIGNED|CHAR": lambda: blob(INT(enc=3)),
    "INT encoding 8": lambda: blob(INT(enc=8)),
    "INT data top bits": lambda: blob([N["int"], info(Kind.INT), 4, 1 << 28 | 32]),
    "TYPEDEF name not an identifier": lambda: blob(INT4, REF(Kind.TYPEDEF, 1, "1x")),
    "TYPEDEF name with a space": lambda: blob(INT4, REF(Kind.TYPEDEF, 1, "a b")),
    "TYPEDEF name 'é' in UTF-8": lambda: blob(
        INT4, [len(STRS), info(Kind.TYPEDEF), 1], strs=STRS + "é".encode() + b"\0"
    ),
    "TYPEDEF name of 513 bytes": lambda: blob(
        INT4, [len(STRS), info(Kind.TYPEDEF), 1], strs=STRS + b"t" * 513 + b"\0"
    ),
    "DATASEC name of 513 bytes": lambda: blob(
        INT4,
        [N["v"], info(Kind.VAR), 1, 0],
        [len(STRS), info(Kind.DATASEC, 1), 4, 2, 0, 4],
        strs=STRS + b"d" * 513 + b"\0",
    ),
    "TYPEDEF anonymous": lambda: blob(INT4, REF(Kind.TYPEDEF, 1)),
    "PTR with a name": lambda: blob(INT4, REF(Kind.PTR, 1, "s")),
    "VOLATILE with a name": lambda: blob(INT4, REF(Kind.VOLATILE, 1, "s")),
    "FUNC_PROTO with a name": lambda: blob(INT4, [N["s"], info(Kind.FUNC_PROTO), 1]),
    "TYPE_TAG without a value": lambda: blob(INT4, REF(Kind.TYPE_TAG, 1)),
    "DECL_TAG without a value": lambda: blob(INT4, S, [0, info(Kind.DECL_TAG), 2, 0xFFFFFFFF]),
    "FWD anonymous": lambda: blob([0, info(Kind.FWD), 0]),
    "FWD with a type": lambda: blob(INT4, [N["s"], info(Kind.FWD), 1]),
    "ARRAY with a name": lambda: blob(INT4, [N["s"], info(Kind.ARRAY), 0, 1, 1, 4]),
    "ARRAY with a size": lambda: blob(INT4, [0, info(Kind.ARRAY), 16, 1, 1, 4]),
    "ARRAY of void": lambda: blob(INT4, [0, info(Kind.ARRAY), 0, 0, 1, 4]),
    "ARRAY index void": lambda: blob(INT4, [0, info(Kind.ARRAY), 0, 1, 0, 4]),
    "ENUM of size 3": lambda: blob([N["e"], info(Kind.ENUM, 1), 3, N["A"], 0]),
    "ENUM of size 0": lambda: blob([N["e"], info(Kind.ENUM, 1), 0, N["A"], 0]),
    "ENUM64 of size 16": lambda: blob([N["e"], info(Kind.ENUM64, 1), 16, N["A"], 0, 0]),
    "enumerator without a name": lambda: blob([N["e"], info(Kind.ENUM, 1), 4, 0, 0]),
    "member with a bad name": lambda: blob(INT4, [N["s"], info(Kind.STRUCT, 1), 4, N["1x"], 1, 0]),
    "member of type void": lambda: blob(INT4, [N["s"], info(Kind.STRUCT, 1), 4, N["m"], 0, 0]),
    "member offset beyond size": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 1), 4, N["m"], 1, 64]
    ),
    "member beyond struct size": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 1), 4, N["m"], 1, 8]
    ),
    "members out of order": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 2), 8, N["m"], 1, 32, N["v"], 1, 0]
    ),
    "union member at offset 32": lambda: blob(
        INT4, [N["s"], info(Kind.UNION, 1), 8, N["m"], 1, 32]
    ),
    "member not byte aligned": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 1), 8, N["m"], 2, 4], REF(Kind.PTR, 0)
    ),
    "bitfield wider than its INT": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 1, 1), 8, N["m"], 1, 33 << 24]
    ),
    "bitfield on a bitfield INT": lambda: blob(
        INT(bits=5), [N["s"], info(Kind.STRUCT, 1, 1), 4, N["m"], 1, 3 << 24]
    ),
    "bitfield on a pointer": lambda: blob(
        REF(Kind.PTR, 0), [N["s"], info(Kind.STRUCT, 1, 1), 8, N["m"], 1, 3 << 24]
    ),
    "member of a FWD": lambda: blob(
        [N["s"], info(Kind.FWD), 0], [N["v"], info(Kind.STRUCT, 1), 8, N["m"], 1, 0]
    ),
    "member of a FUNC_PROTO": lambda: blob(
        INT4, [0, info(Kind.FUNC_PROTO), 1], [N["s"], info(Kind.STRUCT, 1), 8, N["m"], 2, 0]
    ),
    "FUNC to a non-proto": lambda: blob(INT4, REF(Kind.FUNC, 1, "f")),
    "FUNC extern linkage": lambda: blob(
        INT4, PROTO, REF(Kind.FUNC, 2, "f", vlen=int(Linkage.EXTERN))
    ),
    "FUNC with an unnamed parameter": lambda: blob(
        INT4, [0, info(Kind.FUNC_PROTO, 1), 1, 0, 1], REF(Kind.FUNC, 2, "f")
    ),
    "VAR extern": lambda: blob(INT4, [N["v"], info(Kind.VAR), 1, int(Linkage.EXTERN)]),
    "VAR of void": lambda: blob(INT4, [N["v"], info(Kind.VAR), 0, 0]),
    "VAR of a FUNC_PROTO": lambda: blob(INT4, PROTO, [N["v"], info(Kind.VAR), 2, 0]),
    "VAR of a FWD": lambda: blob([N["s"], info(Kind.FWD), 0], [N["v"], info(Kind.VAR), 1, 0]),
    "void parameter not last": lambda: blob(
        INT4, [0, info(Kind.FUNC_PROTO, 2), 1, 0, 0, N["m"], 1]
    ),
    "named varargs": lambda: blob(INT4, [0, info(Kind.FUNC_PROTO, 2), 1, N["m"], 1, N["v"], 0]),
    "returns a FUNC_PROTO": lambda: blob(INT4, [0, info(Kind.FUNC_PROTO), 3], PROTO),
    "parameter bad name": lambda: blob(INT4, [0, info(Kind.FUNC_PROTO, 1), 1, N["a b"], 1]),
    "parameter of a VAR": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [0, info(Kind.FUNC_PROTO, 1), 1, N["m"], 2]
    ),
    "DATASEC of size 0": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [N[".data"], info(Kind.DATASEC, 1), 0, 2, 0, 4]
    ),
    "DATASEC unsorted": lambda: blob(
        INT4,
        [N["v"], info(Kind.VAR), 1, 0],
        [N["m"], info(Kind.VAR), 1, 0],
        [N[".data"], info(Kind.DATASEC, 2), 8, 2, 4, 4, 3, 0, 4],
    ),
    "DATASEC overlapping": lambda: blob(
        INT4,
        [N["v"], info(Kind.VAR), 1, 0],
        [N["m"], info(Kind.VAR), 1, 0],
        [N[".data"], info(Kind.DATASEC, 2), 8, 2, 0, 4, 3, 2, 4],
    ),
    "DATASEC entry past its end": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [N[".data"], info(Kind.DATASEC, 1), 4, 2, 2, 4]
    ),
    "DATASEC entry of size 0": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [N[".data"], info(Kind.DATASEC, 1), 4, 2, 0, 0]
    ),
    "DATASEC entry not a VAR": lambda: blob(INT4, [N[".data"], info(Kind.DATASEC, 1), 4, 1, 0, 4]),
    "DATASEC entry smaller than its VAR": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [N[".data"], info(Kind.DATASEC, 1), 4, 2, 0, 2]
    ),
    "DATASEC anonymous": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [0, info(Kind.DATASEC, 1), 4, 2, 0, 4]
    ),
    "DATASEC name not printable": lambda: blob(
        INT4,
        [N["v"], info(Kind.VAR), 1, 0],
        [len(STRS), info(Kind.DATASEC, 1), 4, 2, 0, 4],
        strs=STRS + b"\x01x\0",
    ),
    "FLOAT of size 3": lambda: blob([N["f"], info(Kind.FLOAT), 3]),
    "DECL_TAG index out of range": lambda: blob(INT4, S, [N["tag"], info(Kind.DECL_TAG), 2, 1]),
    "DECL_TAG index below -1": lambda: blob(
        INT4, S, [N["tag"], info(Kind.DECL_TAG), 2, 0xFFFFFFFE]
    ),
    "DECL_TAG index on a VAR": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [N["tag"], info(Kind.DECL_TAG), 2, 0]
    ),
    "DECL_TAG on an INT": lambda: blob(INT4, [N["tag"], info(Kind.DECL_TAG), 1, 0xFFFFFFFF]),
    "DECL_TAG parameter out of range": lambda: blob(
        INT4, PROTO, REF(Kind.FUNC, 2, "f"), [N["tag"], info(Kind.DECL_TAG), 3, 1]
    ),
    "TYPE_TAG after CONST": lambda: blob(INT4, REF(Kind.CONST, 3), REF(Kind.TYPE_TAG, 1, "tag")),
    # references
    "reference beyond the last ID": lambda: blob(INT4, REF(Kind.PTR, 7)),
    "typedef loop": lambda: blob(REF(Kind.TYPEDEF, 1, "s")),
    "typedef/const loop": lambda: blob(REF(Kind.TYPEDEF, 2, "s"), REF(Kind.CONST, 1)),
    "pointer loop": lambda: blob(REF(Kind.PTR, 2), REF(Kind.CONST, 1)),
    "struct containing itself": lambda: blob(INT4, [N["s"], info(Kind.STRUCT, 1), 4, N["m"], 2, 0]),
    "struct loop through an array": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 1), 8, N["m"], 3, 0], [0, info(Kind.ARRAY), 0, 2, 1, 1]
    ),
    "ARRAY index is a struct": lambda: blob(INT4, S, [0, info(Kind.ARRAY), 0, 1, 2, 4]),
    "ARRAY of a FWD": lambda: blob(
        INT4, [N["s"], info(Kind.FWD), 0], [0, info(Kind.ARRAY), 0, 2, 1, 4]
    ),
    "ARRAY of bitfield INT": lambda: blob(INT4, INT(bits=5), [0, info(Kind.ARRAY), 0, 2, 1, 4]),
    "ARRAY size overflows": lambda: blob(INT4, [0, info(Kind.ARRAY), 0, 1, 1, 0x40000001]),
    "PTR to a VAR": lambda: blob(INT4, [N["v"], info(Kind.VAR), 1, 0], REF(Kind.PTR, 2)),
    "pointer to a later FUNC": lambda: blob(INT4, REF(Kind.PTR, 4), PROTO, REF(Kind.FUNC, 3, "f")),
    "1-byte enum as a plain member of a kind_flag struct": lambda: blob(
        [N["e"], info(Kind.ENUM, 1), 1, N["A"], 0],
        [N["s"], info(Kind.STRUCT, 1, 1), 2, N["m"], 1, 0],
    ),
    "enum bitfield of 40 bits": lambda: blob(
        [N["e"], info(Kind.ENUM64, 1), 8, N["A"], 0, 0],
        [N["s"], info(Kind.STRUCT, 1, 1), 8, N["m"], 1, 40 << 24],
    ),
    "ARRAY index is an ENUM": lambda: blob(
        INT4, [N["e"], info(Kind.ENUM, 1), 4, N["A"], 0], [0, info(Kind.ARRAY), 0, 1, 2, 4]
    ),
    "FLOAT member misaligned": lambda: blob(
        [N["f"], info(Kind.FLOAT), 8], [N["s"], info(Kind.STRUCT, 1), 16, N["m"], 1, 32]
    ),
    "returns a typedef of void": lambda: blob(
        REF(Kind.TYPEDEF, 0, "s"), [0, info(Kind.FUNC_PROTO), 1]
    ),
    "33 chained typedefs": lambda: blob(*(REF(Kind.TYPEDEF, i + 2, "s") for i in range(33)), INT4),
}

# Edge cases the kernel accepts, where a stricter reading of the rules would not.
ACCEPTED: dict[str, Callable[[], bytes]] = {
    "anonymous INT": lambda: blob(INT("")),
    "INT of 3 bytes": lambda: blob(INT(size=3, bits=24)),
    "INT named 'a b'": lambda: blob(INT("a b")),
    "anonymous FLOAT": lambda: blob([0, info(Kind.FLOAT), 8]),
    "identifier with dots": lambda: blob(INT4, REF(Kind.TYPEDEF, 1, ".data")),
    "identifier of Latin-1 letters": lambda: blob(
        INT4, [len(STRS), info(Kind.TYPEDEF), 1], strs=STRS + b"\xc3\xc3\0"
    ),
    "identifier of 512 bytes": lambda: blob(
        INT4, [len(STRS), info(Kind.TYPEDEF), 1], strs=STRS + b"t" * 512 + b"\0"
    ),
    "DATASEC name of 512 bytes": lambda: blob(
        INT4,
        [N["v"], info(Kind.VAR), 1, 0],
        [len(STRS), info(Kind.DATASEC, 1), 4, 2, 0, 4],
        strs=STRS + b"d" * 512 + b"\0",
    ),
    "zero-filled 32-byte header": lambda: blob(INT4, hdr_len=32),
    "zero-filled 4096-byte header": lambda: blob(INT4, hdr_len=4096),
    "DATASEC name with a space": lambda: blob(
        INT4, [N["v"], info(Kind.VAR), 1, 0], [N["a b"], info(Kind.DATASEC, 1), 4, 2, 0, 4]
    ),
    "TYPE_TAG and DECL_TAG with kind_flag": lambda: blob(
        INT4,
        S,
        REF(Kind.TYPE_TAG, 1, "tag", kflag=1),
        [N["tag"], info(Kind.DECL_TAG, 0, 1), 2, 0xFFFFFFFF],
    ),
    "32 chained typedefs": lambda: blob(*(REF(Kind.TYPEDEF, i + 2, "s") for i in range(32)), INT4),
    "pointer loop through a struct": lambda: blob(
        INT4, [N["s"], info(Kind.STRUCT, 1), 8, N["m"], 3, 0], REF(Kind.PTR, 2)
    ),
    "pointer to an earlier FUNC": lambda: blob(
        INT4, PROTO, REF(Kind.FUNC, 2, "f"), REF(Kind.PTR, 3)
    ),
    "DATASEC entry smaller than a VAR resolved for it": lambda: blob(
        INT4, [N[".data"], info(Kind.DATASEC, 1), 4, 3, 0, 2], [N["v"], info(Kind.VAR), 1, 0]
    ),
    "INT of 0 bits and 0 bytes": lambda: blob(INT(size=0, bits=0)),
    "bitfield in a kind_flag union": lambda: blob(
        INT4, [N["s"], info(Kind.UNION, 1, 1), 4, N["m"], 1, 3 << 24]
    ),
    "empty DATASEC": lambda: blob([N[".data"], info(Kind.DATASEC), 4]),
    "enum bitfield in a kind_flag struct": lambda: blob(
        [N["e"], info(Kind.ENUM, 1), 4, N["A"], 0],
        [N["s"], info(Kind.STRUCT, 1, 1), 4, N["m"], 1, 3 << 24],
    ),
}


def _kernel(data: bytes) -> kernel_oracle.LoadResult:
    return kernel_oracle.load(data)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_rejected_by_both(case: str) -> None:
    data = MALFORMED[case]()
    verdict = _kernel(data)
    assert not verdict.ok, f"the kernel accepts {case!r}: the case is not malformed"
    with pytest.raises(BTFError):
        validate_bytes(data, load=True)


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_edge_cases_accepted_by_both(case: str) -> None:
    data = ACCEPTED[case]()
    verdict = _kernel(data)
    assert verdict.ok, f"the kernel rejects {case!r}: {verdict}"
    validate_bytes(data, load=True)


def every_kind() -> Builder:
    """A valid BTF using every kind the kernel loads, built through the API."""
    b = Builder()
    int_ = b.add_int("int", 4, IntEncoding.SIGNED)
    char = b.add_int("char", 1, IntEncoding.CHAR)
    b.add_int("_Bool", 1, IntEncoding.BOOL)
    u128 = b.add_int("unsigned __int128", 16)
    voidp = b.add_ptr(0)
    arr = b.add_array(char, int_, 16)
    flt = b.add_float("double", 8)
    e = b.add_enum("e", 4, [("A", 0), ("B", -1)])
    e64 = b.add_enum64("e64", 8, [("BIG", 1 << 40)])
    s = b.add_struct("s", 64, [("a", int_, 0), ("p", voidp, 64), ("c", arr, 128), ("d", flt, 256),
                               ("x", e, 320), ("y", e64, 384)])  # fmt: skip
    b.add_struct(
        "bits", 24, [("x", int_, 0, 3), ("y", int_, 3, 5), ("e", e, 8, 2), ("w", u128, 64)]
    )
    b.add_union("u", 8, [("i", int_, 0), ("p", voidp, 0)])
    b.add_fwd("fs", "struct")
    b.add_fwd("fu", "union")
    b.add_fwd("fe", "enum")
    td = b.add_typedef("td", s)
    vol = b.add_volatile(int_)
    b.add_const(vol)
    b.add_restrict(voidp)
    tag = b.add_type_tag("user", int_)
    tagp = b.add_ptr(tag)
    proto = b.add_func_proto(int_, [("x", int_), ("p", tagp)])
    func = b.add_func("f", proto, Linkage.GLOBAL)
    b.add_func("g", proto, Linkage.STATIC)
    varargs = b.add_func_proto(0, [("fmt", voidp), ("", 0)])
    b.add_func("printf_like", varargs, Linkage.GLOBAL)
    b.add_ptr(b.add_func_proto(0, [("", int_)]))  # a function pointer may have unnamed params
    var = b.add_var("v", int_, Linkage.GLOBAL)
    var2 = b.add_var("w", td, Linkage.STATIC)
    b.add_datasec(".data", 72, [(var, 0, 4), (var2, 8, 64)])
    b.add_decl_tag("tag1", s, 0)
    b.add_decl_tag("tag2", func, 1)
    b.add_decl_tag("tag3", var)
    b.add_decl_tag("tag4", td)
    b.add_decl_tag("tag5", func)
    return b


def test_every_kind_accepted_by_both() -> None:
    btf = every_kind().btf
    kinds = {t.kind for t in btf.types()}
    assert kinds == {k for k in Kind if k != Kind.UNKN}
    data = btfkit.to_bytes(btf)
    verdict = _kernel(data)
    assert verdict.ok, str(verdict)
    validate(btf)
    validate_bytes(data, load=True)


def test_sys_vmlinux_loads_and_validates(sys_vmlinux: Path) -> None:
    data = sys_vmlinux.read_bytes()
    verdict = _kernel(data)
    assert verdict.ok, str(verdict)
    validate_bytes(data, load=True)


def test_corpus_vmlinux_loads_and_validates(corpus: Corpus) -> None:
    # The Debian 6.1 kernel's BTF, taken out of its ELF and loaded into this kernel.
    btf = corpus.base
    data = btfkit.to_bytes(btf)
    verdict = _kernel(data)
    assert verdict.ok, str(verdict)
    validate_bytes(data, load=True)


# --- random graphs: accepted by both; mutated, judged alike ---------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(type_graphs())
def test_random_graphs_accepted_by_both(graph: Graph) -> None:
    btf = graph.build()
    validate(btf)
    verdict = _kernel(btfkit.to_bytes(btf))
    assert verdict.ok, str(verdict)


_WORD_VALUES = [0, 1, 2, 3, 4, 7, 8, 16, 32, 33, 64, 128, 0xFFFF, 0x80000000, 0xFFFFFFFF]


@settings(
    max_examples=int(os.environ.get("BTFKIT_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(type_graphs(max_types=12), st.data())
def test_mutated_graphs_judged_alike(graph: Graph, data: st.DataObject) -> None:
    # Overwrite a few words of the type section; the kernel and btfkit must agree on the result.
    blob = bytearray(btfkit.to_bytes(graph.build()))
    type_words = struct.unpack_from("=I", blob, 12)[0] // 4
    for _ in range(data.draw(st.integers(1, 3))):
        at = 24 + 4 * data.draw(st.integers(0, type_words - 1))
        old = struct.unpack_from("=I", blob, at)[0]
        new = data.draw(
            st.one_of(
                st.sampled_from(_WORD_VALUES),
                st.integers(0, 40),
                st.integers(0, 31).map(lambda bit, old=old: old ^ 1 << bit),
                st.integers(1, 19).map(lambda kind, old=old: kind << 24 | old & 0x8000FFFF),
            )
        )
        struct.pack_into("=I", blob, at, new)
    verdict = _kernel(bytes(blob))
    try:
        validate_bytes(bytes(blob), load=True)
    except BTFError as exc:
        assert not verdict.ok, f"btfkit rejects what the kernel accepts: {exc}"
    else:
        assert verdict.ok, f"btfkit accepts what the kernel rejects: {verdict}"
