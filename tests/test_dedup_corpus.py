"""Dedup on the Debian kernel package: every module, stand-alone modules, vmlinux, the CLI.

libbpf 1.1.2 (ctypes) is the oracle, compared byte for byte.  Modules are
split into chunks so that ``pytest -n 2`` shares them between both cores.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

import btfkit
from btfkit.cli import main
from btfkit.format.elf import btf_sections
from btfkit.transforms.dedup import BaseIndex, dedup
from btfkit.transforms.merge import concat, merge, standalone

from . import kernel_oracle, libbpf_oracle
from .conftest import Corpus, require, sample

pytestmark = pytest.mark.corpus
CHUNKS = 8


@pytest.fixture(scope="module")
def base_raw(corpus: Corpus) -> bytes:
    require(libbpf_oracle.lib is not None, "libbpf.so.1 is not installed (Debian's libbpf1)")
    return btf_sections(corpus.vmlinux.read_bytes(), "vmlinux").btf


@pytest.fixture(scope="module")
def base(base_raw: bytes) -> btfkit.BTF:
    return btfkit.parse(base_raw)


@pytest.fixture(scope="module")
def index(base: btfkit.BTF) -> BaseIndex:
    return BaseIndex(base)


@pytest.fixture(scope="module")
def libbpf_base(base_raw: bytes) -> Iterator[int]:
    btf = libbpf_oracle.new(base_raw)
    yield btf
    libbpf_oracle.free(btf)


def _module_raw(path: Path) -> bytes:
    return btf_sections(path.read_bytes(), str(path)).btf


def _libbpf_dedup(raw: bytes, libbpf_base: int) -> bytes:
    with libbpf_oracle.parsed(raw, libbpf_base) as btf:
        libbpf_oracle.dedup_in_place(btf)
        return libbpf_oracle.raw_data(btf)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_module_against_vmlinux(
    corpus: Corpus, base: btfkit.BTF, index: BaseIndex, libbpf_base: int, chunk: int
) -> None:
    differ = []
    for path in corpus.modules[chunk::CHUNKS]:
        raw = _module_raw(path)
        btf = btfkit.parse(raw, base)
        dedup(btf, index=index)
        ours = btfkit.to_bytes(btf)
        if ours != _libbpf_dedup(raw, libbpf_base):
            differ.append(path.name)
    assert not differ, f"{len(differ)} modules differ from libbpf: {differ[:10]}"


def test_standalone_modules_deduplicated_against_the_base(
    corpus: Corpus, base: btfkit.BTF, base_raw: bytes, index: BaseIndex, libbpf_base: int
) -> None:
    # A module turned standalone (base closure first, then its own types), placed as
    # split BTF over vmlinux: dedup must fold the copies back into the base.
    same_as_shipped = 0
    picked = sample(corpus.modules, 25)
    for path in picked:
        module = btfkit.parse(_module_raw(path), base)
        alone = btfkit.parse(btfkit.to_bytes(standalone(module)))
        raw = btfkit.to_bytes(concat([alone], base))
        btf = btfkit.parse(raw, base)
        dedup(btf, index=index)
        ours = btfkit.to_bytes(btf)
        assert ours == _libbpf_dedup(raw, libbpf_base), path.name
        same_as_shipped += ours == _libbpf_dedup(btfkit.to_bytes(module), libbpf_base)
        # The same standalone BTF deduplicated on its own.
        standalone_raw = btfkit.to_bytes(alone)
        own = btfkit.parse(standalone_raw)
        dedup(own)
        assert btfkit.to_bytes(own) == libbpf_oracle.dedup(standalone_raw), path.name
    assert same_as_shipped > len(picked) // 2


def test_standalone_outputs_load_into_the_kernel(corpus: Corpus, base: btfkit.BTF) -> None:
    reason = kernel_oracle.probe()
    require(reason is None, reason or "")
    for path in sample(corpus.modules, 100):
        alone = standalone(btfkit.parse(_module_raw(path), base))
        dedup(alone)
        result = kernel_oracle.load(btfkit.to_bytes(alone))
        assert result.ok, f"{path.name}: {result}"


def test_vmlinux_rededup_and_idempotence(base_raw: bytes) -> None:
    btf = btfkit.parse(base_raw)
    dedup(btf)
    once = btfkit.to_bytes(btf)
    assert once == libbpf_oracle.dedup(base_raw)
    again = btfkit.parse(once)
    dedup(again)
    assert btfkit.to_bytes(again) == once


def test_merge_of_modules(corpus: Corpus, base: btfkit.BTF, base_raw: bytes, libbpf_base: int) -> None:
    paths = [p for p in corpus.modules if p.parent.name in ("netfilter", "ipv4", "ipv6")][:30]
    require(len(paths) > 5, "the corpus lacks netfilter modules")
    modules = [btfkit.parse(_module_raw(p), base) for p in paths]
    raw = btfkit.to_bytes(concat(modules, base))
    merged = merge(modules, base)
    assert btfkit.to_bytes(merged) == _libbpf_dedup(raw, libbpf_base)
    assert len(merged) < sum(map(len, modules))


def test_cli_tree_with_compressed_modules(
    corpus: Corpus, base: btfkit.BTF, libbpf_base: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "pkg"
    (tree / "boot").mkdir(parents=True)
    shutil.copy(corpus.vmlinux, tree / "vmlinux")
    picked = corpus.modules[3::90]
    compressors = [
        (".ko", lambda d: d),
        (".ko.xz", lzma.compress),
        (".ko.gz", gzip.compress),
        (".ko.zst", zstandard.ZstdCompressor().compress),
    ]
    expected = {}
    for n, path in enumerate(picked):
        suffix, compress = compressors[n % len(compressors)]
        rel = Path("lib/modules/6.1/kernel") / path.parent.name / (path.name.removesuffix(".ko") + suffix)
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(compress(path.read_bytes()))
        out_name = str(rel).removesuffix(suffix) + ".btf"
        expected[out_name] = _libbpf_dedup(_module_raw(path), libbpf_base)
    out = tmp_path / "out"
    assert main(["dedup", str(tree), "-o", str(out), "-j", "2", "--progress"]) == 0
    captured = capsys.readouterr()
    assert f"{len(picked)}/{len(picked)} [" in captured.err and "modules: 100%" in captured.err  # tqdm's bar
    assert f"{len(picked)} modules:" in captured.out
    for name, data in expected.items():
        assert (out / name).read_bytes() == data, name
    # The report: standalone sizes vs split sizes, next to the base's.
    assert main(["dedup", "--report", "-B", str(corpus.vmlinux), *map(str, picked[:3]), "-j", "1"]) == 0
    report = capsys.readouterr().out
    assert "deduplicated alone" in report and picked[0].name.removesuffix(".ko") in report


def test_cli_single_file_and_merge(
    corpus: Corpus, base: btfkit.BTF, libbpf_base: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = corpus.modules[5:8]
    out = tmp_path / "one.btf"
    assert main(["dedup", str(paths[0]), "-B", str(corpus.vmlinux), "-o", str(out)]) == 0
    assert out.read_bytes() == _libbpf_dedup(_module_raw(paths[0]), libbpf_base)
    merged = tmp_path / "merged.btf"
    assert main(["merge", "-B", str(corpus.vmlinux), *map(str, paths), "-o", str(merged)]) == 0
    modules = [btfkit.parse(_module_raw(p), base) for p in paths]
    assert merged.read_bytes() == _libbpf_dedup(btfkit.to_bytes(concat(modules, base)), libbpf_base)
    # Bad input: one error line, exit status 1, and the other modules still done.
    bad = tmp_path / "mods" / "broken.ko"
    bad.parent.mkdir()
    bad.write_bytes(b"\x7fELF" + b"\0" * 60)
    shutil.copy(paths[0], bad.parent / paths[0].name)
    capsys.readouterr()
    assert main(["dedup", "-B", str(corpus.vmlinux), str(bad.parent), "-o", str(tmp_path / "o"), "-j", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("btfkit: error:") == 1 and "broken.ko" in err
    assert (tmp_path / "o" / (paths[0].name.removesuffix(".ko") + ".btf")).exists()
