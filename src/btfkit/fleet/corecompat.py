"""Which kernels resolve a CO-RE program's relocations, and to what: ``btfkit compat --program``.

For one compiled BPF program (``clang -g -target bpf``), every kernel (a unit of
work for the engine, as the layouts of :mod:`btfkit.fleet.compat`) resolves each
of its CO-RE relocations as libbpf would at load time, through
:func:`btfkit.core.check.outcomes` (what ``btfkit core check`` judges): the
value patched into the instruction, or why loading fails on it.  The result has
one row per relocation (``insn 12: field_byte_offset struct task_struct.se.load.weight``)
and a column per release, and renders as a table, JSON, or an HTML page (the
reason of each failure on hover).

Kernels are resolved on their vmlinux BTF alone, as ``core check`` does and as
libbpf does when given a custom target BTF (``btf_custom_path``).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.check import Outcome, outcomes
from ..core.program import Program, load_program
from ..core.resolve import Target
from ..errors import BTFError
from .compat import release_key
from .kernel import ARCHIVE_SUFFIX, open_kernel


@dataclass(frozen=True)
class ProgramQuery:
    """One kernel to resolve a program on (picklable: the program travels as its bytes)."""

    path: str
    program: bytes
    program_name: str


@lru_cache(maxsize=4)
def _program(data: bytes, name: str) -> Program:
    """The program, read once per worker process however many kernels it is resolved on."""
    return load_program(data, name)


#: What one kernel gives: (its path, its release, each relocation's outcome).
Resolved = tuple[str, str, list[Outcome]]


def resolve_on(query: ProgramQuery) -> Resolved:
    """(path, release, each relocation's outcome) of the program on one kernel's vmlinux BTF."""
    kernel = open_kernel(query.path)
    outs = outcomes(
        _program(query.program, query.program_name), Target(kernel.vmlinux(), kernel.release)
    )
    return query.path, kernel.release.removesuffix(ARCHIVE_SUFFIX), outs


_ACCESS = re.compile(r" \([0-9:]*\)$")  # the access string ending a relocation's description


@dataclass
class Row:
    """One relocation, and what each release makes of it."""

    section: str
    index: int
    insn: int
    kind: str
    what: str
    local_value: int | None
    by_release: dict[str, Outcome] = field(default_factory=dict)

    def label(self, with_section: bool = False) -> str:
        """``insn 12: field_byte_offset struct task_struct.se.load.weight`` (the access string dropped)."""
        where = f"{self.section} insn {self.insn}" if with_section else f"insn {self.insn}"
        return f"{where}: {self.kind} {_ACCESS.sub('', self.what)}"


def cell_text(outcome: Outcome) -> str:
    """A release's cell: the value, ``FAIL``, or why it loads without a value (``unreached``, ``skipped``)."""
    if outcome.failure is not None:
        return "FAIL"
    if outcome.note is not None:
        return "skipped" if outcome.note.startswith("skipped") else "unreached"
    return str(outcome.value)


@dataclass
class CoreCompat:
    """A program's relocations (rows) on each release (columns, in release order)."""

    program: str
    releases: list[str]
    rows: list[Row]

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(r.section for r in self.rows))

    def loads_on(self, release: str) -> bool:
        """Whether the program loads on ``release`` (no relocation fails there)."""
        return all(r.by_release[release].failure is None for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "releases": self.releases,
            "loads": {r: self.loads_on(r) for r in self.releases},
            "relocations": [self._row_json(row) for row in self.rows],
        }

    def _row_json(self, row: Row) -> dict[str, Any]:
        return {
            "relocation": row.label(len(self.sections) > 1),
            "section": row.section, "index": row.index, "insn": row.insn, "kind": row.kind, "what": row.what,
            "local_value": row.local_value,
            "by_release": {
                rel: {"value": o.value, "fails": o.failure is not None, "reason": o.failure or o.note}
                for rel, o in row.by_release.items()
            },
        }  # fmt: skip


def core_compat(
    paths: Sequence[Path],
    program: str | os.PathLike[str],
    run: Callable[[Callable[[ProgramQuery], Resolved], list[ProgramQuery]], Iterable[Resolved]],
) -> CoreCompat:
    """Resolve ``program`` on every kernel in ``paths`` (``run`` as the archive's: the engine)."""
    name = os.fspath(program)
    try:
        data = Path(program).read_bytes()
    except OSError as exc:
        raise BTFError(f"{name}: {exc.strerror}") from exc
    prog = load_program(
        data, name
    )  # read here first: a bad program fails before any kernel is read
    if prog.ext is None or not prog.ext.relocations():
        raise BTFError(f"{name}: no CO-RE relocations to resolve")
    found = {
        path: (release, outs)
        for path, release, outs in run(
            resolve_on, [ProgramQuery(str(p), data, name) for p in paths]
        )
    }
    # A column per kernel, named by its release; kernels that share a release name (two files
    # both called vmlinux) are named by their paths instead.
    names = [release for release, _ in found.values()]
    label = {
        path: release if names.count(release) == 1 else path for path, (release, _) in found.items()
    }
    order = sorted(found, key=lambda p: (release_key(label[p]), label[p]))
    rows: dict[tuple[str, int], Row] = {}
    for path in order:
        for o in found[path][1]:
            row = rows.setdefault(
                (o.section, o.index), Row(o.section, o.index, o.insn, o.kind, o.what, o.local_value)
            )
            row.by_release[label[path]] = o
    return CoreCompat(name, [label[p] for p in order], list(rows.values()))


def render_table(result: CoreCompat) -> Iterator[str]:
    """A text table (a row per relocation, a column per release), then each failure's reason."""
    with_section = len(result.sections) > 1
    head = ["relocation", *result.releases]
    rows = [
        [row.label(with_section), *(cell_text(row.by_release[r]) for r in result.releases)]
        for row in result.rows
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for cells in [head, *rows]:
        yield "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + "\n"
    failures = [
        f"{row.label(with_section)}: {release}: {o.failure}"
        for row in result.rows for release, o in row.by_release.items() if o.failure is not None
    ]  # fmt: skip
    if failures:
        yield "\n"
        yield from (f + "\n" for f in failures)


def render_html(result: CoreCompat) -> str:
    """An HTML page: one table, a row per relocation, a column per release; a failure's reason on hover."""
    esc = html.escape
    with_section = len(result.sections) > 1
    head = "".join(f"<th>{esc(r)}</th>" for r in result.releases)
    rows = []
    for row in result.rows:
        cells = []
        for release in result.releases:
            o = row.by_release[release]
            text = cell_text(o)
            if o.failure is not None:
                cells.append(f'<td class="fail" title="{esc(o.failure)}">{text}</td>')
            elif o.note is not None:
                cells.append(f'<td class="note" title="{esc(o.note)}">{text}</td>')
            else:
                moved = o.value != row.local_value
                cells.append(
                    f'<td class="{"moved" if moved else "ok"}" title="compiled in: {row.local_value}">{text}</td>'
                )
        rows.append(f"<tr><th>{esc(row.label(with_section))}</th>{''.join(cells)}</tr>")
    loads = "".join(
        '<td class="ok">loads</td>' if result.loads_on(r) else '<td class="fail">fails</td>'
        for r in result.releases
    )
    style = (
        "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-family:monospace}td{text-align:right}tbody th{text-align:left}.ok{background:#dfd}"
        ".moved{background:#ffd}.fail{background:#fcc}.note{color:#888}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>btfkit compat: {esc(os.path.basename(result.program))}'
        f"</title><style>{style}</style></head><body><table><thead><tr><th>relocation</th>{head}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + f"\n</tbody><tfoot><tr><th>program</th>{loads}</tr></tfoot></table></body></html>\n"
    )
