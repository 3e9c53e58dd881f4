"""Validation without the kernel: real kernels' BTF, split BTF, the CLI.

The kernel-oracle comparisons live in ``test_kernel.py``; here the inputs are
ones the kernel has already accepted in real life (the Debian kernel and every
one of its modules, this machine's vmlinux), so they must validate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import btfkit
from btfkit import BTFValidationError, Kind
from btfkit.cli import main
from btfkit.format.build import Builder
from btfkit.format.validate import validate, validate_bytes

from .conftest import Corpus
from .test_kernel import MALFORMED, every_kind


def test_sys_vmlinux_validates(sys_vmlinux: Path) -> None:
    validate_bytes(sys_vmlinux.read_bytes())


@pytest.mark.corpus
def test_corpus_vmlinux_and_every_module_validate(corpus: Corpus) -> None:
    validate(corpus.base)
    for path in corpus.modules:
        validate(btfkit.load(path, corpus.base))


def test_split_on_a_valid_base() -> None:
    base = every_kind().btf
    b = Builder(base=base)
    s = b.add_struct(
        "wrapper", 72, [("inner", base.find("s").id, 0), ("next", b.btf.type_count + 1, 512)]
    )
    b.add_ptr(s)
    validate(b.btf)
    # The same split with a member pointing at a base FUNC is refused, naming the split type.
    bad = Builder(base=base)
    bad.add_struct("wrapper", 8, [("f", base.find("f", Kind.FUNC).id, 0)])
    with pytest.raises(BTFValidationError, match=rf"type \[{base.type_count}\]"):
        validate(bad.btf)


def test_split_on_an_invalid_base_names_the_base() -> None:
    base = Builder()
    base.add_var("v", 0)  # a VAR of type void
    split = Builder(base=base.btf)
    split.add_int("int", 4)
    with pytest.raises(BTFValidationError, match="base BTF"):
        validate(split.btf)


def test_base_growing_is_revalidated() -> None:
    base = Builder()
    base.add_int("int", 4)
    split = Builder(base=base.btf)
    split.add_ptr(1)
    validate(split.btf)
    base.add_typedef("loop", 3)  # [2] refers to itself through [3]
    base.add_const(2)
    with pytest.raises(BTFValidationError, match="loop"):
        validate(Builder(base=base.btf).btf)


def test_errors_name_type_and_offset() -> None:
    b = Builder()
    b.add_int("int", 4)
    b.add_struct("s", 4, [("m", 1, 0), ("n", 1, 32)])  # n starts at the struct's end
    with pytest.raises(BTFValidationError) as info:
        validate(b.btf)
    assert info.value.type_id == 2
    # The member's offset word: header, INT record (4 words), struct header, two members.
    assert info.value.offset == 24 + 4 * (4 + 3 + 3 + 2)


def test_long_modifier_chain_does_not_recurse() -> None:
    # 5000 typedefs, each naming the next one: the walk is iterative and gives up at depth 32.
    b = Builder()
    for i in range(5000):
        b.add_typedef("t", i + 2)
    b.add_int("int", 4)
    with pytest.raises(BTFValidationError, match="deeper than 32"):
        validate(b.btf)
    # The other way round (each naming the previous one) resolves one step at a time.
    ok = Builder()
    ok.add_int("int", 4)
    for i in range(5000):
        ok.add_typedef("t", i + 1)
    validate(ok.btf)


def test_cli_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.btf"
    btf = every_kind().btf
    btfkit.write(btf, path)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"OK: {len(btf)} types\n"


def test_cli_split_with_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = every_kind().btf
    split = Builder(base=base)
    split.add_ptr(base.find("s").id)
    btfkit.write(base, tmp_path / "base.btf")
    btfkit.write(split.btf, tmp_path / "split.btf")
    assert main(["validate", str(tmp_path / "split.btf"), "-B", str(tmp_path / "base.btf")]) == 0
    assert capsys.readouterr().out == "OK: 1 types\n"


@pytest.mark.parametrize(
    "case", ["gap between types and strings", "DATASEC unsorted", "typedef loop"]
)
def test_cli_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path = tmp_path / "bad.btf"
    path.write_bytes(MALFORMED[case]())
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("btfkit: error: ")
    assert captured.err.count("\n") == 1


def test_other_byte_order_validates_unless_loading() -> None:
    btf = every_kind().btf
    other = "big" if btf.byteorder == "little" else "little"
    data = btfkit.to_bytes(btf, other)
    assert validate_bytes(data).byteorder == other
    with pytest.raises(btfkit.BTFHeaderError, match="native byte order"):
        validate_bytes(data, load=True)
