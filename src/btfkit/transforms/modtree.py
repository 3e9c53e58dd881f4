"""Deduplicating whole trees of kernel modules against one vmlinux.

The base is read and indexed once (:class:`~btfkit.transforms.dedup.BaseIndex`); worker
processes are forked after that, so they share it without re-hashing it (libbpf
re-hashes the whole base for every module).  Inputs are module files
(``.ko``, ``.ko.xz``, ``.ko.zst``, ``.ko.gz``), directories of them, or an
unpacked kernel package (whose ``vmlinux`` or ``boot/vmlinuz-*`` then serves
as the base when none is given).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..cpus import available_cpus
from ..errors import BTFError
from ..format.btf import BTF
from ..format.reader import load
from ..format.writer import to_bytes, write_atomic
from ..transforms.dedup import BaseIndex, dedup
from ..transforms.merge import standalone

__all__ = ["ModuleResult", "Progress", "dedup_modules", "find_base", "find_modules", "raw_size",
           "report_modules", "run_tree", "worker_state", "write_output"]

_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


def _is_module(path: Path) -> bool:
    return path.name.endswith(_MODULE_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _MODULE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_modules(inputs: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Module files among ``inputs`` (files or directories), each with its output name.

    A module named on the command line keeps its base name; one found in a
    directory keeps its path below that directory.  Output names end in
    ``.btf``.  Duplicate names are an error.
    """
    found: list[tuple[Path, str]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                if path.is_file() and _is_module(path):
                    rel = path.relative_to(item)
                    found.append((path, str(rel.parent / (_stem(path) + ".btf"))))
        elif item.exists():
            found.append((item, _stem(item) + ".btf"))
        else:
            raise BTFError(f"{item}: no such file or directory")
    names = [name for _, name in found]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BTFError(f"two inputs would both be written as {dup}")
    return found


def find_base(inputs: Iterable[str | Path]) -> Path | None:
    """A kernel image inside an unpacked kernel package among ``inputs``, if any."""
    for item in map(Path, inputs):
        if not item.is_dir():
            continue
        if (item / "vmlinux").is_file():
            return item / "vmlinux"
        images = sorted(item.glob("boot/vmlinuz-*")) + sorted(item.glob("vmlinuz*"))
        if images:
            return images[0]
    return None


@dataclass(frozen=True)
class ModuleResult:
    """What deduplicating one module did (``error`` set when it failed)."""

    path: Path
    output: str
    bytes_in: int = 0
    types_in: int = 0
    bytes_out: int = 0
    types_out: int = 0
    error: str | None = None


class Progress:
    """A progress bar (tqdm's) on ``stream``, or nothing if ``stream`` is None."""

    def __init__(self, total: int, stream: TextIO | None, label: str = "modules"):
        self._bar = None
        if stream is not None:
            from tqdm import tqdm  # noqa: PLC0415 (only a terminal needs it)

            unit = label[:-2] if label.endswith("ses") else label.rstrip("s")  # passes: a pass
            self._bar = tqdm(total=total, file=stream, unit=unit, desc=label, leave=True)

    def step(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# Set in the parent before forking; workers read it (copy-on-write, never re-hashed).
_STATE: dict[str, object] = {}


def _dedup_one(job: tuple[Path, str]) -> ModuleResult:
    path, name = job
    base = _STATE["base"]
    index = _STATE["index"]
    outdir = _STATE["outdir"]
    assert isinstance(base, BTF) and isinstance(index, BaseIndex) and isinstance(outdir, Path)
    try:
        btf = load(path, base)
        before = raw_size(btf)
        n_in = len(btf)
        dedup(btf, index=index)
        data = to_bytes(btf)
        write_output(outdir, name, data)
    except (BTFError, OSError) as exc:
        return ModuleResult(path, name, error=str(exc))
    return ModuleResult(path, name, before, n_in, len(data), len(btf))


def write_output(outdir: Path, name: str, data: bytes) -> None:
    """Write one module's output ``outdir/name`` (creating its folder), atomically; the tree
    functions flush all files at the end with one sync rather than one fsync per file."""
    target = outdir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data, fsync=False)


def raw_size(btf: BTF) -> int:
    """The size of ``btf``'s raw blob, without building it."""
    layout = 4 * len(btf.layout) if btf.layout is not None else 0
    return btf.header_len + 4 * len(btf.words) + layout + len(btf.strings.data)


def _report_one(job: tuple[Path, str]) -> ModuleResult:
    path, name = job
    base = _STATE["base"]
    index = _STATE["index"]
    assert isinstance(base, BTF) and isinstance(index, BaseIndex)
    try:
        btf = load(path, base)
        dedup(btf, index=index)
        alone = standalone(btf)
        dedup(alone)
    except BTFError as exc:
        return ModuleResult(path, name, error=str(exc))
    return ModuleResult(path, name, raw_size(alone), len(alone), raw_size(btf), len(btf))


def run_tree(
    fn: Callable[[tuple[Path, str]], ModuleResult],
    modules: Sequence[tuple[Path, str]],
    *,
    jobs: int,
    progress: TextIO | None,
    **state: object,
) -> list[ModuleResult]:
    """``fn`` over every ``(path, output name)`` of ``modules``, in ``jobs`` forked processes.

    ``state`` (the base and whatever was prepared from it) is made visible to ``fn``
    through :func:`worker_state` before forking, so workers share it without copying or
    rebuilding it.  Results come back in the order of ``modules``.
    """
    _STATE.update(state)
    bar = Progress(len(modules), progress)
    results: list[ModuleResult] = []
    # Frozen, the base's objects are left out of every collection: the per-module work
    # would otherwise have the collector walk them again and again, and forked workers
    # would copy every page it touches (copy-on-write).
    gc.freeze()
    try:
        if jobs <= 1 or len(modules) < 2:
            for job in modules:
                results.append(fn(job))
                bar.step()
        else:
            ctx = multiprocessing.get_context("fork")
            # Ctrl-C reaches the whole process group: the parent alone handles it (stopping
            # the pool sends its workers SIGTERM, whose handler removes their temporaries).
            with ctx.Pool(jobs, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)) as pool:
                it: Iterator[ModuleResult] = pool.imap_unordered(fn, modules, chunksize=16)
                for res in it:
                    results.append(res)
                    bar.step()
    finally:
        bar.close()
        gc.unfreeze()
        _STATE.clear()
    order = {name: i for i, (_, name) in enumerate(modules)}
    results.sort(key=lambda r: order[r.output])
    return results


def worker_state() -> dict[str, object]:
    """What :func:`run_tree` was given as ``state``, for the function it runs."""
    return _STATE


def _run(  # noqa: PLR0917
    fn: Callable[[tuple[Path, str]], ModuleResult],
    base: BTF,
    modules: Sequence[tuple[Path, str]],
    outdir: Path | None,
    jobs: int,
    progress: TextIO | None,
) -> list[ModuleResult]:
    return run_tree(fn, modules, jobs=jobs, progress=progress, base=base, index=BaseIndex(base), outdir=outdir)


def dedup_modules(
    base: BTF,
    modules: Sequence[tuple[Path, str]],
    outdir: str | Path,
    *,
    jobs: int | None = None,
    progress: TextIO | None = None,
) -> list[ModuleResult]:
    """Deduplicate every module against ``base`` and write each as raw split BTF under ``outdir``.

    ``modules`` comes from :func:`find_modules`.  Work is spread over ``jobs``
    forked processes (default: all CPUs).  A module that fails is reported in
    its result and does not stop the others.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    results = _run(_dedup_one, base, modules, out, jobs or available_cpus(), progress)
    os.sync()  # one flush for all the files, instead of one fsync each
    return results


def report_modules(
    base: BTF,
    modules: Sequence[tuple[Path, str]],
    *,
    jobs: int | None = None,
    progress: TextIO | None = None,
) -> list[ModuleResult]:
    """Per module: its standalone size (module plus the base types it needs, deduplicated alone)
    as ``bytes_in``/``types_in``, and its split size against ``base`` as ``bytes_out``/``types_out``."""
    return _run(_report_one, base, modules, None, jobs or available_cpus(), progress)


def progress_stream(force: bool = False) -> TextIO | None:
    """stderr when it is a terminal (or when forced), else None."""
    return sys.stderr if force or sys.stderr.isatty() else None
