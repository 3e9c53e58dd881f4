"""Every example in docs/*.md runs as a doctest (on this machine's /sys/kernel/btf/vmlinux)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from .conftest import SYS_VMLINUX, require

DOCS = sorted((Path(__file__).parent.parent / "docs").glob("*.md"))


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_doc_examples_run(page: Path) -> None:
    require(SYS_VMLINUX.exists(), "this kernel exposes no /sys/kernel/btf/vmlinux")
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{page.name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {page.name} failed (see above)"
