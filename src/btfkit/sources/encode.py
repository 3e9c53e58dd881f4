"""Making an object's BTF: from DWARF (``pahole -J``) or by linking ``.BTF`` sections.

:func:`encode` turns the DWARF of a ``.o``/``.ko`` into deduplicated BTF, split
on a base (a kernel module on its vmlinux) when one is given, byte for byte
what ``pahole -J [--btf_base BASE]`` 1.24 produces.  :func:`link` merges the
``.BTF`` sections of objects compiled with ``gcc -gbtf`` (or ``clang -g -target
bpf``) into one deduplicated BTF, without DWARF.  :func:`write_section` puts a
BTF into an ELF file's ``.BTF`` section, atomically.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BTFError, ELFError
from ..format.btf import BTF, ByteOrder, Type
from ..format.build import Builder
from ..format.elf import BTF_BASE_SECTION, BTF_SECTION, btf_sections, unwrap
from ..format.fixups import compiler_fixups, load_time_fixups, object_layout
from ..format.kinds import Kind
from ..format.reader import parse, read_input
from ..format.writer import to_bytes, write_atomic
from ..gcpause import paused_gc
from ..sources.dwarf import DwarfStats, dwarf_to_btf
from ..sources.elfedit import set_section
from ..transforms.dedup import BaseIndex, dedup

__all__ = ["EncodeStats", "encode", "link", "write_section"]

_ELF_MAGIC = b"\x7fELF"
_THIS_MODULE = ".gnu.linkonce.this_module"


@dataclass
class EncodeStats(DwarfStats):
    """Timings of one :func:`encode`: DWARF reading, BTF building and deduplication."""

    dedup_seconds: float = 0.0
    types_before_dedup: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def _read(source: str | Path | bytes, what: str) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, what
    return read_input(str(source)), str(source)


def _layout(t: Type) -> tuple[int, list[tuple[str, int, int]]]:
    return t.size, [(m.name, m.bit_offset, m.bitfield_size) for m in t.members]


def _check_base(btf: BTF, is_module: bool, name: str) -> None:
    """Refuse a kernel module built for another kernel than the base.

    Built for the base's kernel, a module's ``struct module`` usually deduplicates into the
    base's; when it does not (some type deeper in its graph differs, as happens for a few
    in-tree modules too), it must at least have the base's size and member layout.
    """
    if btf.base is None or not is_module:
        return
    own = next((t for t in btf.types() if t.kind == Kind.STRUCT and t.name == "module"), None)
    if own is None:
        return
    theirs = [t for t in btf.base.find_all("module", Kind.STRUCT) if _layout(t) == _layout(own)]
    if not theirs:
        raise BTFError(
            f"{name}: the base does not match this module: its struct module (size {own.size}, "
            f"{own.vlen} members) is laid out differently; was it built for another kernel?"
        )


def encode(
    source: str | Path | bytes,
    base: BTF | None = None,
    *,
    index: BaseIndex | None = None,
    stats: EncodeStats | None = None,
    check_base: bool = True,
    gen_floats: bool = False,
    name: str = "object",
    jobs: int | None = None,
) -> BTF:
    """The deduplicated BTF of an ELF object's DWARF, split on ``base`` when given.

    ``index`` (a :class:`~btfkit.transforms.dedup.BaseIndex` of ``base``) saves re-indexing the
    base when encoding many objects.  With ``check_base``, a kernel module whose
    ``struct module`` is laid out differently from the base's is rejected: the base
    is then not the kernel the module was built for.  ``gen_floats`` is pahole's
    ``--btf_gen_floats`` (floats as FLOAT, as kernel builds ask for).  A large object (a
    vmlinux) has its compilation units encoded on ``jobs`` processes (default: all CPUs),
    with the same result.
    """
    data, name = _read(source, name)
    if bytes(unwrap(data, name)[:4]) != _ELF_MAGIC:
        raise ELFError(f"{name}: not an ELF object")
    if not data.startswith(_ELF_MAGIC):
        raise ELFError(f"{name}: a compressed object; decompress it first")
    st = stats if stats is not None else EncodeStats()
    is_module = _THIS_MODULE.encode() in data
    with paused_gc():
        btf = dwarf_to_btf(data, name, base, st, gen_floats=gen_floats, jobs=jobs)
        del data  # (a vmlinux's 600 MB, not needed while deduplicating)
        st.types_before_dedup = len(btf)
        t = time.perf_counter()
        if index is None and base is not None:
            index = BaseIndex(base)
        if len(btf):
            dedup(btf, index=index)
        st.dedup_seconds += time.perf_counter() - t
    if check_base:
        _check_base(btf, is_module, name)
    return btf


def link(
    sources: Iterable[str | Path | bytes], base: BTF | None = None, *, notes: dict[str, list[str]] | None = None
) -> BTF:
    """Merge the ``.BTF`` sections of objects into one deduplicated BTF, split on ``base`` if given.

    Each object's BTF is first fixed as libbpf fixes it when it opens the object (DATASEC
    sizes and offsets from the ELF file) and as the kernel needs (gcc's ``char`` encoding):
    see :mod:`btfkit.format.fixups`.  ``notes``, if given, receives per object one line per fix.
    """
    builder = Builder(base=base)
    count = 0
    for i, src in enumerate(sources):
        data, name = _read(src, f"object {i + 1}")
        sections = btf_sections(data, name)
        try:
            part = parse(sections.btf)
            layout = object_layout(unwrap(data, name), name)
            done = load_time_fixups(part, layout) if layout is not None else []
            done += compiler_fixups(part)
        except BTFError as exc:
            raise type(exc)(f"{name}: {exc}") from exc
        if notes is not None and done:
            notes[name] = done
        if builder.btf.byteorder != part.byteorder and not len(builder.btf):
            builder.btf.byteorder = part.byteorder
        elif builder.btf.byteorder != part.byteorder:
            raise ELFError(f"{name}: BTF byte order {part.byteorder} differs from the other objects'")
        builder.add_btf(part)
        count += 1
    if not count:
        raise BTFError("no objects to link")
    dedup(builder.btf)
    return builder.btf


def write_section(path: str | Path, btf: BTF, distilled_base: BTF | None = None) -> None:
    """Store ``btf`` as the ``.BTF`` section of the ELF file at ``path`` (replaced or added),
    and ``distilled_base``, if given, as its ``.BTF.base`` (the distilled base ``btf`` is split on).

    The new file is written next to the old one and renamed over it, so an
    interruption leaves either the old file or the new one, never a mix.
    """
    path = Path(path)
    data = read_input(str(path))
    if not data.startswith(_ELF_MAGIC):
        raise ELFError(f"{path}: not an uncompressed ELF file")
    endian: ByteOrder = "little" if data[5:6] == b"\x01" else "big"
    data = set_section(data, BTF_SECTION, to_bytes(btf, endian), name=str(path))
    if distilled_base is not None:
        data = set_section(data, BTF_BASE_SECTION, to_bytes(distilled_base, endian), name=str(path))
    write_atomic(path, data)
