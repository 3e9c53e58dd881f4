"""The ``btfkit`` top level: one complete, sorted ``__all__``, verbs imported on first use."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import btfkit


def test_all_is_complete_and_resolves() -> None:
    public = {name for name in dir(btfkit) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(btfkit, name), types.ModuleType)}
    assert set(btfkit.__all__) == public - modules - {"annotations", "TYPE_CHECKING", "Any"}
    assert len(btfkit.__all__) == len(set(btfkit.__all__))
    for name in btfkit.__all__:
        obj = getattr(btfkit, name)
        if callable(obj):
            assert inspect.getdoc(obj), f"btfkit.{name} has no docstring"


def test_all_is_sorted() -> None:
    # ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest, each alphabetical.
    def key(name: str) -> tuple[int, str]:
        rank = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return rank, name

    assert btfkit.__all__ == sorted(btfkit.__all__, key=key)


def test_expected_names() -> None:
    for name in ("load", "parse", "write", "to_bytes", "BTF", "Type", "Kind", "BTFError", "NotFoundError",
                 "AmbiguousError", "KindError", "dedup", "dump_c", "dump_raw", "dump_json", "write_c",
                 "write_raw", "write_json", "encode", "link", "merge", "distill", "relocate",
                 "BaseMismatchError", "DistillError", "RelocateError"):  # fmt: skip
        assert name in btfkit.__all__


def test_verbs_are_imported_lazily() -> None:
    code = "import sys, btfkit; print(sorted(m for m in sys.modules if m.startswith('btfkit.')))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    for heavy in ("btfkit.outputs.c", "btfkit.transforms.dedup", "btfkit.sources.encode"):
        assert heavy not in loaded
    assert btfkit.dump_raw.__module__ == "btfkit.outputs.raw"


def test_dump_names_return_text_and_write_streams() -> None:
    import io

    b = btfkit.Builder()
    b.add_int("int", 4, btfkit.IntEncoding.SIGNED)
    raw = btfkit.dump_raw(b.btf)
    assert raw.startswith(b"[1] INT 'int'")  # bpftool's format itself is checked in test_dump.py
    out = io.BytesIO()
    btfkit.write_raw(b.btf, out)
    assert out.getvalue() == raw
    out = io.BytesIO()
    btfkit.write_json(b.btf, out)
    assert out.getvalue() == btfkit.dump_json(b.btf)
    text = io.StringIO()
    btfkit.write_c(b.btf, text)
    assert text.getvalue() == btfkit.dump_c(b.btf)
