"""Building test objects with the real compilers: ``gcc -gbtf``, ``gcc -g`` + ``pahole -J``, clang."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from .conftest import tool

Build = Callable[[Path, Path], None]


def gcc_gbtf(flags: Sequence[str] = ()) -> Build:
    """``gcc -gbtf -c``: BTF straight from the compiler."""

    def build(src: Path, out: Path) -> None:
        subprocess.run([tool("gcc"), "-gbtf", *flags, "-c", str(src), "-o", str(out)], check=True)

    return build


def gcc_pahole(flags: Sequence[str] = ()) -> Build:
    """``gcc -g -c`` then ``pahole -J``: BTF encoded from DWARF."""

    def build(src: Path, out: Path) -> None:
        subprocess.run([tool("gcc"), "-g", *flags, "-c", str(src), "-o", str(out)], check=True)
        subprocess.run([tool("pahole"), "-J", str(out)], check=True, capture_output=True)

    return build


def clang(target: str) -> Build:
    """``clang -g -O2 -target TARGET -c`` (``bpfel``/``bpfeb`` give BTF in either byte order)."""

    def build(src: Path, out: Path) -> None:
        subprocess.run([tool("clang"), "-g", "-O2", "-target", target, "-c", str(src), "-o", str(out)],
                       check=True)  # fmt: skip

    return build
