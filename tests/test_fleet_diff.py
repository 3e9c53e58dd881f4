"""``btfkit diff`` against bpftool's C headers and gcc's layouts of two real kernel releases.

The oracle for "what changed" between two kernels is independent of btfkit: bpftool 7.5
(libbpf 1.5, built from Debian's linux-source-6.12; 7.1 drops the size of packed enums,
so gcc would lay its headers out differently from the kernel) writes each kernel's vmlinux.h, and gcc computes every struct's layout from each header.
Over all named structs and unions of the oldest and newest 6.12 cloud kernels the archive
holds:

- every struct whose definition text differs between the two headers is reported (changed,
  added or removed);
- every struct reported changed differs in its text, or in its layout as gcc computes it
  (sizeof, and each member's offsetof and sizeof, confirmed by ``_Static_assert`` on each
  header).

A kernel compared with itself has no difference.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import btfkit
from btfkit.cli.app import main
from btfkit.fleet.diff import Diff, MemberShape, describe, diff_paths, render_text

from .conftest import Corpus, tool
from .debian_kernels import image, releases
from .kernel_source import bpftool_path

_DEFINITION = re.compile(r"^(struct|union) (\w+) \{\n.*?^\}[^;\n]*;$", re.M | re.S)
_RENAMED = re.compile(r"___\d+\b")  # bpftool's suffix for the second same-named type


def _definitions(header: str) -> dict[tuple[str, str], Counter[str]]:
    """(kind, name) -> the texts of its definitions (bpftool's ``___N`` renames undone)."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for m in _DEFINITION.finditer(header):
        text = _RENAMED.sub("", m.group(0))
        out.setdefault((m.group(1), _RENAMED.sub("", m.group(2))), Counter())[text] += 1
    return out


def _bpftool_header(vmlinux: Path, out: Path) -> str:
    header = subprocess.run([str(bpftool_path()), "btf", "dump", "file", str(vmlinux), "format", "c"],
                            check=True, capture_output=True).stdout  # fmt: skip
    out.write_bytes(header)
    return header.decode()


def _gcc_confirms(
    header: Path, layouts: dict[tuple[str, str], tuple[int, list[MemberShape]]], tmp: Path
) -> None:
    """gcc, compiling ``header``, agrees with every size and offset in ``layouts``."""
    # (<stddef.h> would clash with the header's own wchar_t.)
    lines = [f'#include "{header}"', "#define offsetof(T, m) __builtin_offsetof(T, m)"]
    for (kind, name), (size, members) in layouts.items():
        t = f"{kind} {name}"
        lines.append(f'_Static_assert(sizeof({t}) == {size}, "{t}");')
        for m in members:
            if m.bitfield_size or not m.path or m.bit_offset % 8:
                continue  # offsetof takes no bitfield
            lines.append(
                f'_Static_assert(offsetof({t}, {m.path}) == {m.bit_offset // 8}, "{t}.{m.path}");'
            )
            if m.size >= 0:
                lines.append(
                    f'_Static_assert(sizeof((({t} *)0)->{m.path}) == {m.size}, "{t}.{m.path} size");'
                )
    src = tmp / f"{header.stem}-layout.c"
    src.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [tool("gcc"), "-fsyntax-only", "-w", str(src)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[:3000]


@pytest.fixture(scope="module")
def two_releases() -> tuple[Path, Path]:
    found = releases("6.12")
    assert len(found) >= 2, f"the archive holds only {found}"
    return image(found[0]).vmlinux, image(found[-1]).vmlinux


def test_itself_is_empty(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    diff = diff_paths(corpus.vmlinux, corpus.vmlinux)
    assert not diff
    assert main(["diff", "--json", str(corpus.vmlinux), str(corpus.vmlinuz)]) == 0
    assert json.loads(capsys.readouterr().out) == {"added": [], "removed": [], "changed": []}
    assert main(["diff", str(corpus.vmlinux), str(corpus.vmlinux)]) == 0
    assert capsys.readouterr().out == ""


def test_two_releases_against_bpftool_and_gcc(
    two_releases: tuple[Path, Path], tmp_path: Path
) -> None:
    old_path, new_path = two_releases
    old_h, new_h = tmp_path / "old.h", tmp_path / "new.h"
    old_text, new_text = _bpftool_header(old_path, old_h), _bpftool_header(new_path, new_h)
    old_defs, new_defs = _definitions(old_text), _definitions(new_text)
    diff = diff_paths(old_path, new_path)
    changed = {(c.kind, c.name) for c in diff.changed if c.kind in ("struct", "union")}
    added = {(s.kind, s.name) for s in diff.added}
    removed = {(s.kind, s.name) for s in diff.removed}

    text_differs = {k for k in old_defs.keys() & new_defs.keys() if old_defs[k] != new_defs[k]}
    assert text_differs, "two releases whose structs are all the same: not a test"
    missed = text_differs - changed - added - removed
    assert not missed, f"definitions differ but not reported: {sorted(missed)[:20]}"
    assert new_defs.keys() - old_defs.keys() <= added
    assert old_defs.keys() - new_defs.keys() <= removed

    # gcc confirms the sizes and offsets btfkit reads, for every named struct and union
    # (those sharing their tag with another type excepted: bpftool renames all but one,
    # and which is which is its choice).
    old_shapes, new_shapes = describe(btfkit.load(old_path)), describe(btfkit.load(new_path))
    layouts, renames = [], set()
    for shapes, defs, text, header in (
        (old_shapes, old_defs, old_text, old_h),
        (new_shapes, new_defs, new_text, new_h),
    ):
        renamed = set(re.findall(r"\b(\w+?)___\d+\b", text))
        renames |= renamed
        layout = {
            k: (v[0].size, list(v[0].members))
            for k, v in shapes.items()
            if k[0] in ("struct", "union") and len(v) == 1 and k[1] not in renamed and k in defs
        }
        _gcc_confirms(header, layout, tmp_path)
        layouts.append(layout)
    old_layout, new_layout = layouts

    def gcc_view(layout: tuple[int, list[MemberShape]]) -> tuple[int, set[tuple[str, int, int]]]:
        size, members = layout
        return size, {
            (m.path, m.bit_offset, m.size) for m in members if m.path and not m.bitfield_size
        }

    unexplained = []
    for key in changed - text_differs:
        if key[1] in renames:
            continue  # same text under bpftool's renames: not decidable from the headers
        assert key in old_layout and key in new_layout, key
        if gcc_view(old_layout[key]) == gcc_view(new_layout[key]):
            unexplained.append(key)
    assert not unexplained, (
        f"reported changed, yet the same text and layout: {sorted(unexplained)[:20]}"
    )


def test_filters_and_text(
    two_releases: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old_path, new_path = two_releases
    diff = diff_paths(old_path, new_path)
    structs = diff.filtered(["struct"])
    assert structs.changed and all(c.kind == "struct" for c in structs.changed)
    assert all(s.kind == "struct" for s in structs.added + structs.removed)
    layout = diff.filtered(only_layout=True)
    assert layout.changed and all(c.layout_changed for c in layout.changed)
    assert {c.name for c in layout.changed} < {c.name for c in diff.changed}
    some = structs.changed[0].name
    assert [c.name for c in diff.filtered(names=[some]).changed] == [some]

    text = "".join(render_text(diff.filtered(names=[some])))
    assert text.startswith(f"\nstruct {some} {{") or f"struct {some}" in text
    assert main(["diff", "-j", "-k", "struct", "-n", some, str(old_path), str(new_path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == Diff.to_json(diff.filtered(["struct"], [some]))
    assert got["changed"][0]["kind"] == "struct" and got["changed"][0]["name"] == some


def test_series_of_pairs_on_the_pool_mirror_each_other(
    two_releases: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = map(str, two_releases)
    assert main(["diff", "-j", "-w", "2", "--no-progress", "-k", "struct,enum", old, new, old]) == 0
    forward, backward = json.loads(capsys.readouterr().out)
    assert (forward["old"], forward["new"], backward["old"], backward["new"]) == (old, new, new, old)
    assert forward["changed"], "two releases with no struct changed: not a test"
    names = lambda side: sorted((t["kind"], t["name"]) for t in side)  # noqa: E731
    assert names(forward["added"]) == names(backward["removed"])
    assert names(forward["removed"]) == names(backward["added"])
    assert names(forward["changed"]) == names(backward["changed"])
    back = {(t["kind"], t["name"]): t for t in backward["changed"]}
    for t in forward["changed"]:
        if "size" in t:
            assert back[(t["kind"], t["name"])]["size"] == t["size"][::-1]
