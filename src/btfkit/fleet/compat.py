"""Which kernels have which layout of a type: ``btfkit compat`` over an archive.

For each named type asked for, every kernel's layout of it is read (per kernel, a
unit of work for the engine), and the distinct layouts are lettered A, B, C... in
release order.  A struct's or union's layout is its size and each member's offset,
bitfield width and size (what a compiled program's field accesses depend on); an
enum's is its size and values; a function's its prototype; a typedef's the type it
names.  The result renders as a table, JSON, or an HTML page with one row per type
and a column per release.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..errors import BTFError
from .archive import read_index
from .diff import Key, Shape, describe, type_name
from .kernel import ARCHIVE_SUFFIX, open_kernel


def layout_of(shape: Shape) -> str:
    """The layout of a type as one line of text; equal lines, same layout."""
    if shape.composite:
        members = "; ".join(
            f"{m.path}@{m.bit_offset}" + (f":{m.bitfield_size}" if m.bitfield_size else "") + f"/{m.size}"
            for m in sorted(shape.members, key=lambda m: (m.bit_offset, m.path))  # (a union's order is no layout)
        )
        return f"size {shape.size}: {members}"
    if shape.kind == "enum":
        return f"size {shape.size}: " + ", ".join(f"{n}={v}" for n, v in shape.values)
    if shape.kind == "func":
        return f"{type_name(shape.target)} ({', '.join(type_name(t) for _, t in shape.params)})"
    return type_name(shape.target)


def kernel_paths(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The kernels in ``inputs``: an archive directory stands for every tarball its index lists."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and (p / "index.json").exists():
            out += [p / path for path in read_index(p)["kernels"]]
        else:
            out.append(p)
    if not out:
        raise BTFError("no kernels to compare")
    return out


@dataclass(frozen=True)
class Query:
    """One kernel, and which of its types to report (picklable: a unit of work)."""

    path: str
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def layouts(query: Query) -> tuple[str, dict[Key, str]]:
    """(release, {(kind, name): layout}) for one kernel's vmlinux types matching the query."""
    kernel = open_kernel(query.path)
    found: dict[Key, str] = {}
    for key, shapes in describe(kernel.vmlinux()).items():
        kind, name = key
        if query.kinds and kind not in query.kinds:
            continue
        if query.names and not any(fnmatchcase(name, g) for g in query.names):
            continue
        found[key] = layout_of(shapes[0])
    release = kernel.release.removesuffix(ARCHIVE_SUFFIX)
    return release, found


@dataclass
class Compat:
    """Per type, the letter of each release's layout (``None``: the release lacks the type)."""

    releases: list[str]
    types: dict[Key, dict[str, str | None]] = field(default_factory=dict)
    legend: dict[Key, dict[str, str]] = field(default_factory=dict)  # letter -> layout

    def to_json(self) -> dict[str, Any]:
        return {
            "releases": self.releases,
            "types": [
                {"kind": k, "name": n, "by_release": by, "layouts": self.legend[(k, n)]}
                for (k, n), by in self.types.items()
            ],
        }


def release_key(release: str) -> tuple[int | str, ...]:
    """A sort key putting releases in version order (6.1.9 before 6.1.10)."""
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", release))


def compat(
    paths: Sequence[Path],
    run: Callable[[Callable[[Query], tuple[str, dict[Key, str]]], list[Query]], Iterable[tuple[str, dict[Key, str]]]],
    kinds: Sequence[str] = (),
    names: Sequence[str] = (),
) -> Compat:
    """Gather the layouts of the matching types of every kernel in ``paths`` (``run`` as the archive's)."""
    results = dict(run(layouts, [Query(str(p), tuple(kinds), tuple(names)) for p in paths]))
    releases = sorted(results, key=release_key)
    out = Compat(releases)
    for key in sorted({k for found in results.values() for k in found}):
        letters: dict[str, str] = {}
        by: dict[str, str | None] = {}
        for release in releases:
            layout = results[release].get(key)
            if layout is None:
                by[release] = None
                continue
            if layout not in letters:
                letters[layout] = _letter(len(letters))
            by[release] = letters[layout]
        out.types[key] = by
        out.legend[key] = {letter: layout for layout, letter in letters.items()}
    return out


def _letter(n: int) -> str:
    text = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        text = chr(ord("A") + r) + text
    return text


def render_table(result: Compat) -> Iterator[str]:
    """A text table: one row per type, a column per release (``-``: the release lacks it)."""
    head = ["type", *result.releases]
    rows = [[f"{k} {n}", *(v or "-" for v in by.values())] for (k, n), by in result.types.items()]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        yield "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"


def render_html(result: Compat) -> str:
    """An HTML page: one row per type, a column per release, each layout's text on hover."""
    esc = html.escape
    head = "".join(f"<th>{esc(r)}</th>" for r in result.releases)
    rows = []
    for key, by in result.types.items():
        legend = result.legend[key]
        cells = "".join(
            f'<td class="l{ord(v[0]) % 6}" title="{esc(legend[v])}">{v}</td>' if v else '<td class="none">-</td>'
            for v in by.values()
        )
        rows.append(f"<tr><th>{esc(key[0])} {esc(key[1])}</th>{cells}</tr>")
    style = (
        "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:center}tbody th{text-align:left}.none{color:#aaa}.l5{background:#dfd}.l0{background:#fdd}"
        ".l1{background:#ddf}.l2{background:#ffd}.l3{background:#fdf}.l4{background:#dff}"
    )
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>btfkit compat</title><style>{style}</style>"
        f"</head><body><table><thead><tr><th>type</th>{head}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table></body></html>\n"
    )
