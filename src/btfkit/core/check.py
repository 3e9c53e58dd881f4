"""``btfkit core check``: which kernels each program loads on, and what breaks where.

A matrix of programs x kernels.  Each program is read once; each kernel's BTF
is read and indexed once, in a worker process per CPU (kernels are
independent), and every program is resolved against it.  A cell fails when
some relocation fails as libbpf would fail it: an error, or a poisoned
instruction that a path of the program reaches.

KERNEL arguments: a vmlinux (ELF, bzImage or raw BTF), a directory of such
files, or an unpacked kernel package (a directory with ``boot/vmlinuz-*``).
"""

from __future__ import annotations

import html
import mmap
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ..cpus import available_cpus
from ..errors import BTFError
from ..format.btf import BTF
from ..format.kernelinfo import file_release, package_release
from ..format.reader import is_raw_btf, load
from .program import Program, load_program
from .resolve import Relocation, Target, resolve

_EM_BPF = 247

__all__ = ["Cell", "Outcome", "check", "is_program", "kernel_inputs", "outcomes", "to_html", "to_json", "to_text"]


@dataclass
class Cell:
    """One program on one kernel."""

    program: str
    kernel: str
    relocations: int
    #: (relocation in words, why it fails) for each failing relocation.
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Set when the kernel's BTF could not be read at all.
    error: str | None = None

    @property
    def fails(self) -> bool:
        return bool(self.failures) or self.error is not None


def kernel_inputs(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, BTF file) for each KERNEL argument, directories expanded."""
    out: list[tuple[str, str]] = []
    for path in paths:
        if os.path.isdir(path):
            release = package_release(path)
            if release is not None:  # an unpacked kernel package
                elf = os.path.join(path, "vmlinux")
                out.append((release, elf if os.path.exists(elf) else os.path.join(path, "boot", f"vmlinuz-{release}")))
                continue
            elf = os.path.join(path, "vmlinux")
            if os.path.isfile(elf):  # a directory holding one kernel (as the corpus's)
                out.append((os.path.basename(os.path.realpath(path)), elf))
                continue
            files = sorted(os.path.join(path, n) for n in os.listdir(path) if not n.startswith("."))
            out.extend(kernel_inputs([f for f in files if os.path.isfile(f) or package_release(f)]))
        else:
            out.append((file_release(path), path))
    if not out:
        raise BTFError("core check: no kernel given")
    return out


def _reason(rel: Relocation) -> str:
    if rel.error is not None:
        return rel.error
    if not rel.candidates:
        return "missing"
    return "no compatible candidate"


@dataclass(frozen=True)
class Outcome:
    """What one relocation of a program becomes on one kernel, as :func:`check` judges it."""

    section: str
    index: int  # within its section's records (libbpf's "relo #N")
    insn: int  # instruction index within the section
    kind: str  # libbpf's name of the relocation kind: field_byte_offset, type_exists...
    what: str  # struct task_struct.se.load.weight (0:52:3:0)
    #: The value compiled in, and the value patched in (None: nothing is patched).
    local_value: int | None
    value: int | None
    #: Why loading fails on this relocation (None: it does not).
    failure: str | None = None
    #: Why it loads without a value: skipped by libbpf, or poisoned where no path reaches.
    note: str | None = None


def _outcome(rel: Relocation) -> Outcome:
    failure = _reason(rel) if rel.fails else None
    note = None
    if rel.skipped is not None:
        note = f"skipped: {rel.skipped}"
    elif rel.poisoned and failure is None:
        note = f"{_reason(rel)}: instruction poisoned, never reached"
    value = rel.value if failure is None and note is None else None
    return Outcome(rel.section, rel.index, rel.insn, rel.kind_label, rel.what, rel.local_value, value, failure, note)


def outcomes(prog: Program, target: Target) -> list[Outcome]:
    """Every relocation of ``prog`` resolved on ``target``, in ``.BTF.ext`` order: its value or why it fails."""
    return [_outcome(r) for r in resolve(prog, target).relocations]


def _load_mapped(path: str) -> BTF:
    """A kernel's BTF read through a memory map: of a 50 MB vmlinux only the ``.BTF`` pages are read."""
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # not mappable (sysfs, a pipe): read whole
        return load(path)
    btf = load(memoryview(mapped))
    btf.mapped_file = mapped  # type: ignore[attr-defined]  # kept open while the BTF may point into it
    return btf


# The programs, set before the worker processes fork (so each is parsed once, in the parent).
_programs: list[Program] = []


def _check_kernel(item: tuple[str, str]) -> list[Cell]:
    name, path = item
    try:
        target = Target(_load_mapped(path))
    except (BTFError, OSError, ValueError) as exc:
        return [Cell(p.name, name, 0, error=f"{path}: {exc}") for p in _programs]
    cells = []
    for prog in _programs:
        found = outcomes(prog, target)
        failures = list(dict.fromkeys((o.what, o.failure) for o in found if o.failure is not None))
        cells.append(Cell(prog.name, name, len(found), failures))
    return cells


def check(programs: Sequence[Program], kernels: Sequence[tuple[str, str]], jobs: int | None = None) -> list[Cell]:
    """Resolve every program on every kernel; cells in kernel order, then program order."""
    global _programs  # noqa: PLW0603 (handed to forked workers)
    _programs = list(programs)
    if jobs is None:
        jobs = available_cpus()
    jobs = min(jobs, len(kernels))
    if jobs <= 1:
        return [c for k in kernels for c in _check_kernel(k)]
    # An executor, not multiprocessing.Pool: leaving a Pool terminates its idle workers
    # with SIGTERM, and a worker that inherited a Python SIGTERM handler (as the module-tree
    # commands install) sits in the task queue's lock for ever; an executor tells its
    # workers to exit instead.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return [c for cells in pool.map(_check_kernel, kernels) for c in cells]


def is_program(path: str) -> Program | None:
    """``path`` read as a program when it is a BPF object with CO-RE relocations; None: a kernel (or its BTF)."""
    if os.path.isdir(path):
        return None
    with open(path, "rb") as f:
        head = f.read(20)
    if is_raw_btf(head) or head[:4] != b"\x7fELF" or len(head) < 20:
        return None
    if int.from_bytes(head[18:20], "little" if head[5] == 1 else "big") != _EM_BPF:
        return None
    prog = load_program(path)
    has_relocations = prog.ext is not None and prog.ext.relocations()
    return prog if has_relocations else None


def to_text(cells: Sequence[Cell]) -> str:
    """A table (programs down, kernels across), then each failure named."""
    programs = list(dict.fromkeys(c.program for c in cells))
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    by = {(c.program, c.kernel): c for c in cells}
    short = [os.path.basename(p) for p in programs]
    width = max(len(s) for s in short)
    lines = [" " * width + "  " + "  ".join(kernels)]
    for prog, label in zip(programs, short, strict=True):
        marks = ["FAIL".center(len(k)) if by[prog, k].fails else "ok".center(len(k)) for k in kernels]
        lines.append(label.ljust(width) + "  " + "  ".join(marks))
    failures = [
        f"{os.path.basename(c.program)}: {what}: {why} on {c.kernel}" for c in cells for what, why in c.failures
    ] + [f"{os.path.basename(c.program)}: {c.kernel}: {c.error}" for c in cells if c.error]
    if failures:
        lines += ["", *failures]
    return "\n".join(lines) + "\n"


def to_json(cells: Sequence[Cell]) -> list[dict[str, object]]:
    return [
        {"program": c.program, "kernel": c.kernel, "loads": not c.fails, "relocations": c.relocations,
         "failures": [{"relocation": w, "reason": r} for w, r in c.failures], "error": c.error}
        for c in cells
    ]  # fmt: skip


def to_html(cells: Sequence[Cell]) -> str:
    """One HTML table; a failing cell's title (hover) lists its failing relocations."""
    programs = list(dict.fromkeys(c.program for c in cells))
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    by = {(c.program, c.kernel): c for c in cells}
    esc = html.escape
    rows = ["<tr><th>program</th>" + "".join(f"<th>{esc(k)}</th>" for k in kernels) + "</tr>"]
    for prog in programs:
        tds = []
        for k in kernels:
            c = by[prog, k]
            if c.fails:
                why = "\n".join([f"{w}: {r}" for w, r in c.failures] + ([c.error] if c.error else []))
                tds.append(f'<td class="fail" title="{esc(why)}">fail</td>')
            else:
                tds.append('<td class="ok">ok</td>')
        rows.append(f"<tr><th>{esc(os.path.basename(prog))}</th>{''.join(tds)}</tr>")
    style = "td.ok{background:#cfc}td.fail{background:#fcc}td,th{padding:2px 8px;font-family:monospace}"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>CO-RE compatibility</title>"
        f"<style>{style}</style></head><body>\n<table>\n" + "\n".join(rows) + "\n</table>\n</body></html>\n"
    )
