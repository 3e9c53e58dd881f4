"""Minimized BTF for a set of BPF programs: what ``bpftool gen min_core_btf`` writes, byte for byte.

BTFHub ships, for kernels without ``/sys/kernel/btf``, only the part of the
kernel's BTF that some programs' CO-RE relocations use.  bpftool's algorithm
("btfgen"), followed here:

1. resolve every relocation of every program against the kernel BTF (vmlinux
   only, all relocations, no instruction checks); any resolution error stops;
2. *mark* what each resolution used in the kernel's BTF:

   - field relocations: the root type and, along the target's raw access path,
     each member taken and its type (modifiers and typedefs followed,
     pointers not);
   - type existence/size/ID relocations: the type and everything it refers
     to, pointers followed, but no struct/union members;
   - ``type_matches``: the type with all members of its structs and unions,
     recursively, stopping at structs and unions behind pointers;
   - enumerator relocations: the enum, whole;

3. build a new BTF of the marked types in their original order, structs and
   unions with only their marked members, every reference to an unmarked type
   turned into ``void``.

With modules, each module's relocations (those resolved against module types)
are marked in the module's BTF and written as a minimized split BTF over the
minimized vmlinux.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import BTFError
from ..format.btf import BTF
from ..format.ext import CoreReloKind
from ..format.kinds import INFO, Kind, make_info
from ..format.writer import to_bytes, write_atomic
from .program import Program, load_program
from .resolve import Target, resolve_for_btfgen, targets_of
from .spec import Spec

__all__ = ["Marks", "min_core_btf", "minimized"]

_SIMPLE = (Kind.UNKN, Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64)
_MODS = (Kind.CONST, Kind.RESTRICT, Kind.VOLATILE, Kind.TYPEDEF)


@dataclass
class Marks:
    """The types and members of one BTF that relocations used."""

    btf: BTF
    #: The marks of the base BTF (vmlinux) for a module's marks: what a module type uses there.
    base: Marks | None = None
    types: set[int] = field(default_factory=set)
    members: dict[int, set[int]] = field(default_factory=dict)

    def _own(self, type_id: int, *, match: bool = False, flag: bool = False) -> bool:
        """Whether ``type_id`` is this BTF's own; a base type is marked in the base's marks instead."""
        if type_id >= self.btf.start_id:
            return True
        if type_id and self.base is not None:
            if match:
                self.base.mark_match(type_id, behind_ptr=flag)
            else:
                self.base.mark(type_id, follow_pointers=flag)
        return False

    def mark(self, type_id: int, *, follow_pointers: bool) -> None:
        """bpftool's ``btfgen_mark_type``: the type and what it needs, struct/union members excepted."""
        while type_id and self._own(type_id, flag=follow_pointers):
            self.types.add(type_id)
            t = self.btf[type_id]
            k = t.kind
            if k in _SIMPLE or k in (Kind.STRUCT, Kind.UNION):
                return
            if k == Kind.PTR:
                if not follow_pointers:
                    return
                type_id = t.type_id
            elif k in _MODS:
                type_id = t.type_id
            elif k == Kind.ARRAY:
                self.mark(t.array.type_id, follow_pointers=follow_pointers)
                type_id = t.array.index_type_id
            elif k == Kind.FUNC_PROTO:
                self.mark(t.type_id, follow_pointers=follow_pointers)
                for p in t.params:
                    self.mark(p.type_id, follow_pointers=follow_pointers)
                return
            else:
                raise BTFError(f"min-core-btf: unsupported kind {Kind(k).name.lower()} ([{type_id}])")

    def mark_field_path(self, spec: Spec) -> None:
        """bpftool's ``btfgen_record_field_relo``: the root, then each member along the raw path."""
        btf, type_id = self.btf, spec.root_type_id
        self.mark(type_id, follow_pointers=False)
        for idx in spec.raw[1:]:
            type_id = btf.skip_modifiers(type_id, typedefs=True)
            t = btf[type_id]
            if t.kind in (Kind.STRUCT, Kind.UNION):
                self.members.setdefault(type_id, set()).add(idx)
                type_id = t.members[idx].type_id
                self.mark(type_id, follow_pointers=False)
            elif t.kind == Kind.ARRAY:
                type_id = t.array.type_id
            else:
                raise BTFError(f"min-core-btf: unsupported kind {Kind(t.kind).name.lower()} ([{type_id}]) in a field path")

    def mark_match(self, type_id: int, *, behind_ptr: bool) -> None:
        """bpftool's ``btfgen_mark_type_match``: members too, up to structs behind pointers."""
        while type_id and self._own(type_id, match=True, flag=behind_ptr):
            self.types.add(type_id)
            t = self.btf[type_id]
            k = t.kind
            if k in _SIMPLE:
                return
            if k in (Kind.STRUCT, Kind.UNION):
                if behind_ptr:
                    return
                for i, m in enumerate(t.members):
                    self.members.setdefault(type_id, set()).add(i)
                    self.mark_match(m.type_id, behind_ptr=False)
                return
            if k == Kind.FWD:
                return  # a forward declaration refers to nothing further
            if k in _MODS:
                type_id = t.type_id
            elif k == Kind.PTR:
                behind_ptr = True
                type_id = t.type_id
            elif k == Kind.ARRAY:
                self.mark_match(t.array.type_id, behind_ptr=False)
                self.mark_match(t.array.index_type_id, behind_ptr=False)
                return
            elif k == Kind.FUNC_PROTO:
                self.mark_match(t.type_id, behind_ptr=False)
                for p in t.params:
                    self.mark_match(p.type_id, behind_ptr=False)
                return
            else:
                raise BTFError(f"min-core-btf: unsupported kind {Kind(k).name.lower()} ([{type_id}])")

    def record(self, spec: Spec) -> None:
        """Mark what one resolved relocation (its target spec) used."""
        kind = spec.kind
        if kind.is_field:
            self.mark_field_path(spec)
        elif kind == CoreReloKind.TYPE_MATCHES:
            self.mark_match(spec.root_type_id, behind_ptr=False)
        elif kind in (CoreReloKind.TYPE_ID_TARGET, CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_SIZE):
            self.mark(spec.root_type_id, follow_pointers=True)
        elif kind.is_enumval:
            self.mark(spec.root_type_id, follow_pointers=False)


def minimized(marks: Marks, base: BTF | None = None, base_ids: dict[int, int] | None = None) -> tuple[BTF, dict[int, int]]:
    """A new BTF of the marked types, in ID order, with only marked members; and the old-to-new ID map.

    For a module, ``base`` is the minimized vmlinux and ``base_ids`` its ID map:
    references into vmlinux are renumbered with it.
    """
    src = marks.btf
    out = BTF(base)  # in the host's byte order, as bpftool writes
    if base is None:
        out.strings.add("")
    ids: dict[int, int] = dict(base_ids or {})
    for type_id in sorted(marks.types):
        owner, w = src.locate(type_id)
        t = src[type_id]
        if t.kind in (Kind.STRUCT, Kind.UNION):
            chosen = sorted(marks.members.get(type_id, ()))
            record = [out.strings.add(t.name), 0, t.size]
            bitfield = False
            for i in chosen:
                m = t.members[i]
                bitfield |= m.bitfield_size > 0 or m.bit_offset % 8 != 0
                record += [out.strings.add(m.name), m.type_id, m.bit_offset | m.bitfield_size << 24]
            record[INFO] = make_info(t.kind, len(chosen), bitfield)
        else:
            n = owner.record_words(owner.words[w + INFO])
            record = list(owner.words[w : w + n])
            for pos in owner.str_positions(owner.words, w):
                record[pos - w] = out.strings.add(owner.strings.get(owner.words[pos]))
        ids[type_id] = out.append_record(record)
    words = out.words
    for w in out.offsets:
        for pos in out.ref_positions(words, w):
            words[pos] = ids.get(words[pos], 0)
    return out, ids


def min_core_btf(
    vmlinux: str | os.PathLike[str] | BTF | Target,
    output: str | os.PathLike[str],
    programs: Sequence[str | os.PathLike[str] | Program],
    modules: Iterable[str | os.PathLike[str] | BTF] = (),
) -> list[str]:
    """Write the minimized BTF of ``vmlinux`` that ``programs`` need to ``output``; returns the files written.

    With ``modules``, relocations vmlinux has no candidate for are resolved
    against them, and each module some relocation uses gets a minimized split
    BTF over ``output``, written to ``output.<module>``.
    """
    targets = targets_of(vmlinux, modules)
    marks = {targets[0].name: Marks(targets[0].btf)}
    for t in targets[1:]:
        marks[t.name] = Marks(t.btf, base=marks[targets[0].name])
    for source in programs:
        prog = source if isinstance(source, Program) else load_program(source)
        if prog.ext is None:
            raise BTFError(f"{prog.name}: no .BTF.ext section")
        for rel in resolve_for_btfgen(prog, targets):
            if rel.error is not None:
                raise BTFError(f"{prog.name}: relocation #{rel.index} in '{rel.section}' ({rel.what}): {rel.error}")
            if rel.target_spec is not None and rel.chosen is not None:
                marks[rel.chosen.target].record(rel.target_spec)
    base, ids = minimized(marks[targets[0].name])
    write_atomic(output, to_bytes(base))
    written = [os.fspath(output)]
    for t in targets[1:]:
        if marks[t.name].types:
            split, _ = minimized(marks[t.name], base, ids)
            path = f"{os.fspath(output)}.{t.name}"
            write_atomic(path, to_bytes(split))
            written.append(path)
    return written

