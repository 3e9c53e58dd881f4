"""Portable module BTF for whole trees: distilling every module of a kernel, and relocating
distilled modules onto another vmlinux, the base read and indexed once for all of them.

Distilled output is either a pair of raw files per module (``NAME.btf``, split on
``NAME.base.btf``) or the module itself with its ``.BTF`` and ``.BTF.base`` sections
rewritten (as ``pahole --btf_features=distilled_base`` leaves an out-of-tree module).
Relocation reads either form and writes ``NAME.btf`` split on the new vmlinux.  Work is
spread over forked processes by :func:`btfkit.transforms.modtree.run_tree`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from ..cpus import available_cpus
from ..errors import BTFError
from ..format.btf import BTF
from ..format.elf import btf_sections, unwrap
from ..format.reader import load
from ..format.relocate import RelocationBase, relocate
from ..format.writer import to_bytes
from ..transforms.dedup import BaseIndex, dedup
from ..transforms.distill import distill
from ..transforms.modtree import (
    ModuleResult,
    find_modules,
    raw_size,
    run_tree,
    worker_state,
    write_output,
)
from .encode import write_section

__all__ = ["BASE_SUFFIX", "distill_modules", "distilled_base_name", "find_relocatable", "relocate_modules"]

#: The distilled base written beside ``NAME.btf`` is ``NAME.base.btf``.
BASE_SUFFIX = ".base.btf"


def distilled_base_name(output: str) -> str:
    """Where the distilled base of split BTF file ``output`` goes: ``NAME.btf`` -> ``NAME.base.btf``."""
    return output.removesuffix(".btf") + BASE_SUFFIX


def _distill_one(job: tuple[Path, str]) -> ModuleResult:
    path, name = job
    state = worker_state()
    base, outdir = state["base"], state["outdir"]
    assert isinstance(base, BTF)
    try:
        btf = load(path, base)
        distilled, split = distill(btf)
        if outdir is None:
            write_section(path, split, distilled)
        else:
            assert isinstance(outdir, Path)
            write_output(outdir, name, to_bytes(split))
            write_output(outdir, distilled_base_name(name), to_bytes(distilled))
    except (BTFError, OSError) as exc:
        return ModuleResult(path, name, error=str(exc))
    return ModuleResult(path, name, raw_size(btf), len(btf), raw_size(split), len(split))


def distill_modules(
    base: BTF,
    modules: Sequence[tuple[Path, str]],
    outdir: str | Path | None,
    *,
    jobs: int | None = None,
    progress: TextIO | None = None,
) -> list[ModuleResult]:
    """Distill every module (from :func:`~btfkit.transforms.modtree.find_modules`) split on ``base``.

    With ``outdir``, writes ``NAME.btf`` and ``NAME.base.btf`` there; with ``outdir=None``,
    rewrites each module's ``.BTF`` and ``.BTF.base`` in place (uncompressed modules only).
    ``bytes_in``/``types_in`` of each result are the module's split BTF on ``base``,
    ``bytes_out``/``types_out`` its new split on the distilled base.
    """
    out = Path(outdir) if outdir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    results = run_tree(_distill_one, modules, jobs=jobs or available_cpus(), progress=progress,
                       base=base, outdir=out)  # fmt: skip
    os.sync()
    return results


def find_relocatable(inputs: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """What :func:`relocate_modules` can read among ``inputs``, each with its output name.

    An input is a module carrying ``.BTF.base``, a raw ``NAME.btf`` with ``NAME.base.btf``
    beside it, or a directory holding either (such as :func:`distill_modules`' output).
    """
    found: list[tuple[Path, str]] = []
    files: list[str | Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += [
                (path, str(path.relative_to(item))) for path in sorted(item.rglob("*.btf"))
                if not path.name.endswith(BASE_SUFFIX) and path.with_name(distilled_base_name(path.name)).is_file()
            ]  # fmt: skip
            found += find_modules([item])
        elif item.name.endswith(".btf"):
            if not item.with_name(distilled_base_name(item.name)).is_file():
                raise BTFError(f"{item}: no distilled base {distilled_base_name(item.name)} beside it")
            found.append((item, item.name))
        else:
            files.append(item)
    if files:
        found += find_modules(files)
    names = [name for _, name in found]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BTFError(f"two inputs would both be written as {dup}")
    return found


def _read_distilled(path: Path) -> BTF:
    """A split BTF on its distilled base, from a module or from ``NAME.btf`` + ``NAME.base.btf``."""
    if path.name.endswith(".btf"):
        return load(path, load(path.with_name(distilled_base_name(path.name))))
    data = unwrap(path.read_bytes(), str(path))
    if btf_sections(data, str(path)).base_btf is None:
        raise BTFError("no .BTF.base section: the module is not distilled (btfkit distill --in-place makes one)")
    return load(data)


def _relocate_one(job: tuple[Path, str]) -> ModuleResult:
    path, name = job
    state = worker_state()
    target, index, outdir = state["target"], state["index"], state["outdir"]
    assert isinstance(target, RelocationBase) and isinstance(outdir, Path)
    try:
        btf = _read_distilled(path)
        moved = relocate(btf, target)
        if index is not None:
            assert isinstance(index, BaseIndex)
            dedup(moved, index=index)
        data = to_bytes(moved)
        write_output(outdir, name, data)
    except (BTFError, OSError) as exc:
        return ModuleResult(path, name, error=str(exc))
    return ModuleResult(path, name, raw_size(btf), len(btf), len(data), len(moved))


def relocate_modules(
    base: BTF,
    inputs: Sequence[tuple[Path, str]],
    outdir: str | Path,
    *,
    deduplicate: bool = False,
    jobs: int | None = None,
    progress: TextIO | None = None,
) -> list[ModuleResult]:
    """Relocate every distilled module (from :func:`find_relocatable`) onto ``base`` and write
    ``NAME.btf``, split on ``base``, under ``outdir``.

    The base is indexed once (and, with ``deduplicate``, hashed once for deduplicating each
    result against it); forked workers share both.  A module that does not relocate has
    ``error`` set in its result, naming the type that did not match and why.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    index = BaseIndex(base) if deduplicate else None
    results = run_tree(_relocate_one, inputs, jobs=jobs or available_cpus(), progress=progress,
                       target=RelocationBase(base), index=index, outdir=out)  # fmt: skip
    os.sync()
    return results
