"""The kernel's CO-RE selftests as a test corpus: programs, target BTFs and the expected outcomes.

From the linux-source tree (:func:`tests.kernel_source.tree`):

- ``progs/test_core_reloc_*.c``: the programs, and ``progs/btf__core_reloc_*.c``:
  the target types, compiled with clang-19 (``-target bpfel`` or ``bpfeb``) and
  libbpf 1.5's headers from the same tree; cached under
  ``$BTFKIT_CORPUS/core-selftests/<hash of sources, headers and compiler>/``;
- ``prog_tests/core_reloc.c``'s ``test_cases[]``: which program goes with which
  target BTF and whether loading must fail.  The table is written with macros,
  so it is expanded by the C preprocessor and read from the result.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .conftest import require, tool
from .kernel_source import _cache_root, _locked_build, libbpf_path, tree

CLANG = "clang-19"
_SELFTESTS = "tools/testing/selftests/bpf"
_HEADERS = ("bpf_helpers.h", "bpf_core_read.h", "bpf_tracing.h", "bpf_endian.h")


@dataclass(frozen=True)
class Case:
    """One row of ``core_reloc.c``'s table."""

    name: str
    program: str  # object file name, e.g. test_core_reloc_flavors.bpf.o
    target: str | None  # target BTF object, None: the running kernel (or its modules)
    fails: bool
    btfgen_fails: bool
    prog_name: str | None = None  # the one program of the object the row is about; None: all


def _sources() -> list[Path]:
    progs = tree() / _SELFTESTS / "progs"
    found = sorted([*progs.glob("test_core_reloc_*.c"), *progs.glob("btf__core_reloc_*.c")])
    # This one includes the vmlinux.h of the kernel it runs on: tests/core_testmod.py builds it.
    return [p for p in found if p.name != "test_core_reloc_module.c"]


@cache
def objects(target: str = "bpfel") -> Path:
    """The directory of compiled selftest objects (``NAME.bpf.o``), built once and cached."""
    clang = tool(CLANG)
    top = tree()
    libbpf_dir = libbpf_path().parent
    progs = top / _SELFTESTS / "progs"
    inputs = [*_sources(), progs / "core_reloc_types.h", libbpf_dir / "bpf_helper_defs.h"]
    inputs += [top / "tools/lib/bpf" / h for h in _HEADERS]
    digest = hashlib.sha256(subprocess.run([clang, "--version"], capture_output=True, check=True).stdout)
    digest.update(target.encode())
    for path in inputs:
        digest.update(path.name.encode() + path.read_bytes())
    out = _cache_root() / "core-selftests" / f"{target}-{digest.hexdigest()[:16]}"

    def build() -> None:
        include = out / "include" / "bpf"
        include.mkdir(parents=True, exist_ok=True)
        for h in _HEADERS:
            shutil.copy(top / "tools/lib/bpf" / h, include)
        shutil.copy(libbpf_dir / "bpf_helper_defs.h", include)
        flags = [
            "-g", "-O2", "-target", target, "-mcpu=v3", f"-I{out / 'include'}",
            f"-I{top / 'tools/include/uapi'}", f"-I{top / _SELFTESTS}", f"-I{progs}",
            "-I/usr/include/x86_64-linux-gnu", "-Wno-compare-distinct-pointer-types",
        ]  # fmt: skip
        for src in _sources():
            dest = out / (src.stem + ".bpf.o")
            done = subprocess.run([clang, *flags, "-c", str(src), "-o", str(dest)], capture_output=True, text=True, check=False)
            require(done.returncode == 0, f"{CLANG} failed on {src.name}: {done.stderr[-2000:]}")

    _locked_build(out / ".built", build)
    return out


@cache
def cases() -> list[Case]:
    """``core_reloc.c``'s ``test_cases[]``, expanded by the preprocessor."""
    text = (tree() / _SELFTESTS / "prog_tests/core_reloc.c").read_text()
    defines = re.findall(r"^#define (?:[^\n]*\\\n)*[^\n]*$", text, re.M)
    table = text[text.index("static const struct core_reloc_test_case test_cases[]") :]
    table = table[: table.index("\n};") + 3]
    source = "\n".join(defines) + "\n" + table
    expanded = subprocess.run(
        [tool(CLANG), "-E", "-P", "-x", "c", "-"], input=source, capture_output=True, text=True, check=True
    ).stdout
    out = []
    for entry in expanded.split(".case_name = ")[1:]:
        name = re.match(r'"([^"]*)"', entry)
        prog = re.search(r'\.bpf_obj_file = "([^"]*)"', entry)
        target = re.search(r"\.btf_src_file = ((?:\"[^\"]*\"\s*)+|NULL)", entry)
        prog_name = re.search(r'\.prog_name = "([^"]*)"', entry)
        assert name and prog and target, entry[:200]
        src = None if target[1] == "NULL" else "".join(re.findall(r'"([^"]*)"', target[1]))
        out.append(
            Case(
                name[1], prog[1], src,
                fails=re.search(r"\.fails = true", entry) is not None,
                btfgen_fails=re.search(r"\.run_btfgen_fails = true", entry) is not None,
                prog_name=prog_name[1] if prog_name else None,
            )
        )  # fmt: skip
    return out
