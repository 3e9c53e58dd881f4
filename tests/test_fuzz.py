"""Fuzzing the reader, the validator and the container unwrapping.

The rule (cilium/ebpf's): whatever the bytes, the answer is a BTF or a
:class:`~btfkit.BTFError`, never another exception and never a hang.  Inputs
are arbitrary bytes and mutations (bit flips, overwrites, truncations, splices)
of real blobs: builder output in both byte orders, the kernel-test tables, and
gcc/clang objects (ELF, and compressed as modules are).

CI runs a moderate number of examples (``BTFKIT_FUZZ_EXAMPLES``, default 500);
run with a large number locally to hunt for crashers.
"""

from __future__ import annotations

import gzip
import lzma
import os
import subprocess
from contextlib import suppress
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import btfkit
from btfkit import BTFError
from btfkit.format.validate import validate, validate_bytes

from .conftest import tool
from .test_kernel import ACCEPTED, MALFORMED, every_kind

EXAMPLES = int(os.environ.get("BTFKIT_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,  # ms per input: a hang or a quadratic blow-up fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DATA = Path(__file__).parent / "data" / "c"


def _raw_seeds() -> list[bytes]:
    built = every_kind().btf
    seeds = [btfkit.to_bytes(built, "little"), btfkit.to_bytes(built, "big")]
    seeds += [make() for make in ACCEPTED.values()]
    seeds += [make() for make in list(MALFORMED.values())[:20]]
    return seeds


RAW_SEEDS = _raw_seeds()


@pytest.fixture(scope="module")
def elf_seeds(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Small real objects: gcc's and clang's BTF of a test source, plain and compressed."""
    out = tmp_path_factory.mktemp("fuzz")
    src = DATA / "dump_kinds.c"
    objs = []
    for name, cmd in (
        ("gcc.o", [tool("gcc"), "-c", "-gbtf", "-O0"]),
        ("clang.o", [tool("clang"), "-c", "-g", "-O2", "-target", "bpfeb"]),
    ):
        subprocess.run([*cmd, "-o", str(out / name), str(src)], check=True)
        objs.append((out / name).read_bytes())
    seeds = list(objs)
    for obj in objs:
        seeds += [gzip.compress(obj), lzma.compress(obj), zstandard.ZstdCompressor().compress(obj)]
    return seeds


def _mutate(data: st.DataObject, seeds: list[bytes]) -> bytes:
    """One seed, changed by a few random edits (or two seeds spliced)."""
    blob = bytearray(data.draw(st.sampled_from(seeds), label="seed"))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        edit = data.draw(st.sampled_from(["flip", "word", "cut", "splice", "insert"]), label="edit")
        pos = data.draw(st.integers(0, max(len(blob) - 1, 0)), label="pos")
        if edit == "flip" and blob:
            blob[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif edit == "word":
            value = data.draw(st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 0xFFFFFFFF, 0x80000000]))
            blob[pos : pos + 4] = value.to_bytes(4, "little")
        elif edit == "cut":
            del blob[pos:]
        elif edit == "splice":
            other = data.draw(st.sampled_from(seeds))
            at = data.draw(st.integers(0, len(other)))
            blob[pos:] = other[at:]
        else:
            blob[pos:pos] = data.draw(st.binary(max_size=16))
    return bytes(blob)


def _read_all(btf: btfkit.BTF) -> None:
    """Everything a caller may do with parsed BTF: views, validation, a round trip.

    Names and IDs are checked on first need (``check_references``); before that, or
    when the check fails, views may raise, but only a BTFError.
    """
    try:
        btf.check_references()
    except BTFError:
        for t in btf.types():
            with suppress(BTFError):
                _ = (t.name, t.kind, t.refs(), [btf.kind_of(r) for r in t.refs()])
        return
    for t in btf.types():
        _ = (t.name, t.kind, t.refs(), [btf.kind_of(r) for r in t.refs()])
    with suppress(BTFError):
        validate(btf)
    again = btfkit.parse(btfkit.to_bytes(btf), btf.base)
    assert btfkit.to_bytes(again) == btfkit.to_bytes(btf)


def _check_parse(blob: bytes) -> None:
    try:
        btf = btfkit.parse(blob)
    except BTFError:
        pass
    else:
        _read_all(btf)
    with suppress(BTFError):
        validate_bytes(blob, load=True)


@FUZZ
@given(st.binary(max_size=512))
def test_parse_arbitrary_bytes(blob: bytes) -> None:
    _check_parse(blob)


@FUZZ
@given(st.binary(max_size=64))
def test_parse_arbitrary_bytes_after_a_header(tail: bytes) -> None:
    # Past the magic, so that the section and record code sees the noise.
    _check_parse(RAW_SEEDS[0][:8] + tail)
    _check_parse(RAW_SEEDS[0][:24] + tail)


@FUZZ
@given(st.data())
def test_parse_mutated_blobs(data: st.DataObject) -> None:
    _check_parse(_mutate(data, RAW_SEEDS))


@FUZZ
@given(st.data())
def test_parse_split_on_a_mutated_base(data: st.DataObject) -> None:
    base = btfkit.parse(RAW_SEEDS[0])
    blob = _mutate(data, [btfkit.to_bytes(every_kind().btf)[:24] + b"\0" * 8, *RAW_SEEDS[:2]])
    try:
        btf = btfkit.parse(blob, base)
    except BTFError:
        return
    _read_all(btf)


@FUZZ
@given(data=st.data())
def test_load_mutated_containers(elf_seeds: list[bytes], data: st.DataObject) -> None:
    blob = _mutate(data, elf_seeds)
    try:
        btf = btfkit.load(blob)
    except BTFError:
        return
    _read_all(btf)
