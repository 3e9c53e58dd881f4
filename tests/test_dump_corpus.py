"""The Debian kernel corpus against bpftool 7.1: every module's raw and JSON dump, byte for byte.

Each module is read once: its ``.BTF`` section must survive a parse/write
round trip unchanged, and both dumps must equal bpftool's (run with ``-B
vmlinux``).  bpftool runs in a small thread pool while Python formats, and
the modules are split into chunks so that ``pytest -n 2`` shares them out.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import btfkit
from btfkit.format.elf import btf_sections
from btfkit.outputs.json import dump_json
from btfkit.outputs.raw import dump_raw

from .conftest import Corpus, tool
from .test_dump import FORMATS, assert_same, bpftool_dump

pytestmark = pytest.mark.corpus

CHUNKS = 12


def _bpftool_raw_and_json(module: Path, base: Path) -> tuple[bytes, bytes]:
    return bpftool_dump(module, base, "raw"), bpftool_dump(module, base, "json")


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_modules_match_bpftool(corpus: Corpus, chunk: int) -> None:
    modules = corpus.modules[chunk::CHUNKS]
    assert modules, "no modules in the corpus"
    base = corpus.base
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = [pool.submit(_bpftool_raw_and_json, m, corpus.vmlinux) for m in modules]
        for module, future in zip(modules, theirs, strict=True):
            section = btf_sections(module.read_bytes(), str(module)).btf
            btf = btfkit.parse(section, base)
            if btfkit.to_bytes(btf) != section:
                problems.append(f"{module.name}: round trip changed the bytes")
            raw, json = future.result()
            if dump_raw(btf) != raw:
                problems.append(f"{module.name}: raw dump differs")
            if dump_json(btf) != json:
                problems.append(f"{module.name}: JSON dump differs")
    assert not problems, f"{len(problems)} problems, first ones: {problems[:10]}"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_vmlinux_matches_bpftool(corpus: Corpus, fmt: str) -> None:
    assert_same(FORMATS[fmt][1](corpus.base), bpftool_dump(corpus.vmlinux, fmt=fmt), "vmlinux")


def test_vmlinux_round_trip(corpus: Corpus) -> None:
    section = btf_sections(corpus.vmlinux.read_bytes(), "vmlinux").btf
    assert btfkit.to_bytes(btfkit.parse(section)) == section


def test_vmlinuz_reads_like_vmlinux(corpus: Corpus) -> None:
    # bpftool cannot open a bzImage; its dump of the unpacked vmlinux is the reference.
    assert_same(dump_raw(btfkit.load(corpus.vmlinuz)), bpftool_dump(corpus.vmlinux), "vmlinuz")


@pytest.mark.parametrize(("compressor", "suffix"), [("xz", ".xz"), ("zstd", ".zst"), ("gzip", ".gz")])
def test_compressed_module_reads_like_plain(corpus: Corpus, tmp_path: Path, compressor: str,
                                            suffix: str) -> None:  # fmt: skip
    module = max(corpus.modules[:50], key=lambda m: m.stat().st_size)
    packed = tmp_path / (module.name + suffix)
    with packed.open("wb") as out:
        subprocess.run([tool(compressor), "-c", str(module)], check=True, stdout=out)
    assert packed.read_bytes()[:4] != module.read_bytes()[:4]
    plain = btfkit.load(module, corpus.base)
    assert dump_raw(btfkit.load(packed, corpus.base)) == dump_raw(plain)
    assert_same(dump_raw(plain), bpftool_dump(module, corpus.vmlinux), module.name)
