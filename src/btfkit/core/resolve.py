"""Resolving a program's CO-RE relocations against a target kernel, as libbpf 1.5 does at load time.

For each relocation of each code section, in ``.BTF.ext`` order:

1. read its access string against the program's own BTF (the *local spec*);
2. find the *candidates*: target types of a compatible kind whose name equals
   the local type's once flavors (``___suffix``) are dropped on both sides;
   vmlinux first, and the modules only when vmlinux has none;
3. match the local spec against each candidate (:mod:`btfkit.core.match`);
   every matching candidate must give the same bit offset and the same value,
   or the relocation is ambiguous (an error).  Candidates that did not match are
   dropped for later relocations against the same local type, as libbpf's
   candidate cache does;
4. compute the value (offset, size, existence, signedness, shifts, type ID,
   size or match, enumerator value); where nothing matched, existence-type
   relocations give 0 and the others *poison* the instruction (the verifier
   rejects the program if it is reachable);
5. check the instruction it patches: the compiled-in value must be the local
   one, a load/store may only change size where that reads the same value.

Unlike libbpf, which stops at the first failing relocation, every relocation
is reported, each with its candidates, its choice, its value or the reason it
fails.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import BTFError
from ..format.btf import BTF, ByteOrder
from ..format.ext import CoreRelo, CoreReloKind
from ..format.kinds import IntEncoding, Kind
from ..format.reader import load
from .match import kinds_compat, spec_match
from .program import Insn, Program, load_program
from .reach import reachable
from .spec import (
    Spec,
    SpecError,
    describe,
    essential_name,
    format_spec,
    kind_label,
    parse_spec,
    resolve_size,
)
from .spec import skip_mods_and_typedefs as skip

__all__ = ["Candidate", "CoreResult", "Relocation", "Target", "resolve"]

_U64 = (1 << 64) - 1
_SHRT_MAX = 0x7FFF
_BPF_LD, _BPF_LDX, _BPF_ST, _BPF_STX, _BPF_ALU, _BPF_ALU64 = 0, 1, 2, 3, 4, 7
_LDIMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
_SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}  # BPF_W, BPF_H, BPF_B, BPF_DW
_BYTES_SIZE = {v: k for k, v in _SIZE_BYTES.items()}


class _Poison(Exception):
    """libbpf's -EUCLEAN: the relocation cannot be satisfied; the instruction gets poisoned."""


class Target:
    """A BTF relocations are resolved against (vmlinux, or a module over it), with its name index.

    The index (flavor-less name to type IDs) is built on first use and kept, so
    resolving many programs against one kernel reads its types once.
    """

    def __init__(self, btf: BTF, name: str = "vmlinux"):
        self.btf = btf
        self.name = name
        self._name_offs: bytes | None = None  # each own type's name offset, a 4-byte word each
        self._strings: list[tuple[bytes, int]] = []  # (string data, its first offset) of this BTF and its bases

    def ids_named(self, essential: str) -> list[int]:
        """Own type IDs (in ID order) whose flavor-less name is ``essential``.

        Rather than computing every type's flavor-less name (a second per kernel
        in Python), the string section is searched for ``essential`` and its
        flavors, and the types naming those strings are looked up.  The types'
        name offsets are kept packed, so that ``bytes.find`` scans them in C: a
        dictionary of a vmlinux's 130,000 names took longer to build than the
        look-ups of a whole program.
        """
        btf = self.btf
        if self._name_offs is None:
            words = btf.words
            self._name_offs = array("I", [words[w] for w in btf.offsets]).tobytes()
            # A split BTF's names may also live in its bases' strings (offsets below its own).
            # Each section is kept with a NUL before it: a split BTF's first string follows its
            # base's closing NUL, so it has none of its own in front (a module's first string
            # is often one of its type names).
            owner: BTF | None = btf
            while owner is not None:
                self._strings.append((b"\0" + bytes(owner.strings.data), owner.start_str_off - 1))
                owner = owner.base
        raw = essential.encode("utf-8", "surrogateescape")
        found: list[int] = []
        # (The string before ends with NUL; the lookahead leaves the closing NUL to the next match.)
        pattern = re.compile(rb"\0(" + re.escape(raw) + rb"(?:___[^\0]*)?)(?=\0)")
        for data, first in self._strings:
            for m in pattern.finditer(data):
                if essential_name(m[1].decode("utf-8", "surrogateescape")) == essential:
                    found += self._ids_naming(first + m.start(1))
        return sorted(found)

    def _ids_naming(self, name_off: int) -> list[int]:
        """Own type IDs whose name is at string offset ``name_off``."""
        assert self._name_offs is not None
        names, word = self._name_offs, array("I", [name_off]).tobytes()
        ids = []
        at = names.find(word)
        while at != -1:
            if at % 4 == 0:  # (a match across two words is no name)
                ids.append(self.btf.start_id + at // 4)
            at = names.find(word, at + 1)
        return ids


@dataclass
class Candidate:
    """A target type considered for a relocation."""

    target: str  # "vmlinux" or the module's name
    type_id: int
    kind: str
    name: str
    #: The target spec as libbpf logs it, when this candidate was tried (None: not tried).
    spec: str | None = None
    matched: bool = False


@dataclass
class Relocation:
    """One CO-RE relocation and what resolving it gave."""

    section: str
    index: int  # within its section's records (libbpf's "relo #N")
    insn: int  # instruction index within the section
    kind: CoreReloKind | int
    type_id: int  # local root type
    access: str
    what: str  # readable: "struct task_struct.se.load.weight (0:52:3:0)"
    program: str | None = None
    prog_insn: int | None = None  # instruction index within its program (libbpf's "insn #N")
    local_spec: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    local_value: int | None = None
    value: int | None = None
    poisoned: bool = False
    error: str | None = None
    #: libbpf's account of the patch ("(LDX/ST/STX) off 8 -> 16", "mem_sz 4 -> 8", ...).
    patch: list[str] = field(default_factory=list)
    #: Why libbpf does not look at this relocation at all (no program, not autoloaded).
    skipped: str | None = None
    #: A poisoned instruction no path reaches (the guard around it is false on this target).
    dead: bool = False
    #: The chosen candidate's spec (what minimized BTF keeps of the target).
    target_spec: Spec | None = field(default=None, repr=False, compare=False)

    @property
    def kind_label(self) -> str:
        return self.kind.label if isinstance(self.kind, CoreReloKind) else f"kind#{self.kind}"

    @property
    def fails(self) -> bool:
        """Whether loading fails on this relocation (an error, or a poisoned instruction that can run)."""
        return self.error is not None or (self.poisoned and not self.dead)


@dataclass
class CoreResult:
    """Every CO-RE relocation of one program against one target."""

    program: str
    target: str
    relocations: list[Relocation]

    @property
    def fails(self) -> bool:
        return any(r.fails for r in self.relocations)


# --- values -------------------------------------------------------------------------------------


@dataclass
class _Value:
    value: int = 0
    size: int = 0  # field size for load/store size adjustment
    type_id: int = 0  # the field's type (size adjustment)
    validate: bool = True


def _field_value(spec: Spec | None, kind: CoreReloKind, insn: int, byteorder: ByteOrder) -> _Value:
    """libbpf's ``bpf_core_calc_field_relo`` for one side (``spec`` None: no target found)."""
    if kind == CoreReloKind.FIELD_EXISTS:
        return _Value(1 if spec is not None else 0)
    if spec is None:
        raise _Poison
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:  # an array element
        size = resolve_size(btf, acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return _Value(spec.bit_offset // 8, size, acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return _Value(size)
        raise SpecError(f"relo {kind.label} at insn #{insn} can't be applied to array access")
    member = btf[acc.type_id].members[acc.idx]
    field_type = skip(btf, member.type_id)
    bit_off, bit_sz = spec.bit_offset, member.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        # The smallest aligned load (of the field type's size or more) holding every bit.
        byte_sz = btf[field_type].size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise SpecError(f"relo {kind.label} at insn #{insn} can't be satisfied for bitfield", "E2BIG")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = resolve_size(btf, field_type)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    out = _Value(validate=not bitfield)
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        out.value = byte_off
        if not bitfield:
            out.size, out.type_id = byte_sz, field_type
    elif kind == CoreReloKind.FIELD_BYTE_SIZE:
        out.value = byte_sz
    elif kind == CoreReloKind.FIELD_SIGNED:
        t = btf[field_type] if field_type else None
        out.value = int(
            t is not None
            and (
                (t.kind in (Kind.ENUM, Kind.ENUM64) and t.kind_flag)
                or (t.kind == Kind.INT and bool(t.encoding & IntEncoding.SIGNED))
            )
        )
        out.validate = True
    elif kind == CoreReloKind.FIELD_LSHIFT_U64:
        if byteorder == "little":
            out.value = 64 - (bit_off + bit_sz - byte_off * 8)
        else:
            out.value = (8 - byte_sz) * 8 + (bit_off - byte_off * 8)
    elif kind == CoreReloKind.FIELD_RSHIFT_U64:
        out.value = 64 - bit_sz
        out.validate = True
    out.value &= _U64
    return out


def _type_value(spec: Spec | None, kind: CoreReloKind) -> _Value:
    """libbpf's ``bpf_core_calc_type_relo``: 0 when no target type was found."""
    if spec is None:
        return _Value(0)
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return _Value(spec.root_type_id, validate=False)  # IDs change in linking: not checked
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return _Value(1)
    return _Value(resolve_size(spec.btf, spec.root_type_id))  # TYPE_SIZE


def _enumval_value(spec: Spec | None, kind: CoreReloKind) -> _Value:
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return _Value(1 if spec is not None else 0)
    if spec is None:
        raise _Poison
    acc = spec.accessors[0]
    t = spec.btf[acc.type_id]
    value = t.values[acc.idx].value
    if t.kind == Kind.ENUM and not t.kind_flag and value >> 31:
        value -= 1 << 32  # libbpf reads a 32-bit enumerator as signed, then widens it
    return _Value(value & _U64)


@dataclass
class _Outcome:
    orig: _Value
    new: _Value
    poison: bool = False
    bad_memsz: bool = False


def _calc(local: Spec, targ: Spec | None, insn: int, byteorder: ByteOrder) -> _Outcome:
    """libbpf's ``bpf_core_calc_relo``: the local (expected) and target values of one relocation."""
    kind = local.kind
    try:
        if kind.is_field:
            orig = _field_value(local, kind, insn, byteorder)
            new = _field_value(targ, kind, insn, byteorder)
        elif kind.is_type:
            orig = _type_value(local, kind)
            new = _type_value(targ, kind)
        else:
            orig = _enumval_value(local, kind)
            new = _enumval_value(targ, kind)
    except _Poison:
        return _Outcome(_Value(0), _Value(0), poison=True)
    out = _Outcome(orig, new)
    if kind.is_field and orig.size != new.size:
        # Resizing a load/store reads the same value only for pointers and unsigned integers.
        assert targ is not None
        lt = local.btf[orig.type_id] if orig.type_id else None
        tt = targ.btf[new.type_id] if new.type_id else None
        kinds = {lt.kind if lt is not None else Kind.UNKN, tt.kind if tt is not None else Kind.UNKN}
        ptrs = kinds == {Kind.PTR}
        unsigned = kinds == {Kind.INT} and IntEncoding.SIGNED not in (lt.encoding, tt.encoding)  # type: ignore[union-attr]
        out.bad_memsz = not (ptrs or unsigned)
    return out


# --- patching -----------------------------------------------------------------------------------


def _patch(rel: Relocation, out: _Outcome, insn: Insn, next_insn: Insn | None) -> None:
    """libbpf's ``bpf_core_patch_insn``, recording what it would do (or why it refuses) in ``rel``."""
    n = rel.prog_insn
    orig, new = out.orig.value, out.new.value
    rel.local_value, rel.value = orig, new

    def poison() -> None:
        rel.poisoned = True
        count = 2 if insn.code == _LDIMM64 else 1
        rel.patch.extend(f"substituting insn #{n + i} w/ invalid insn" for i in range(count))  # type: ignore[operator]

    if out.poison:
        poison()
        return
    cls = insn.cls
    if cls in (_BPF_ALU, _BPF_ALU64):
        if insn.code & 0x08:
            rel.error = f"insn #{n} (ALU/ALU64) has a register operand, not an immediate"
            return
        imm = insn.imm & _U64
        if out.orig.validate and imm != orig:
            rel.error = f"unexpected insn #{n} (ALU/ALU64) value: got {insn.imm & 0xFFFFFFFF}, exp {orig} -> {new}"
            return
        rel.patch.append(f"patched insn #{n} (ALU/ALU64) imm {imm} -> {new}")
    elif cls in (_BPF_LDX, _BPF_ST, _BPF_STX):
        if out.orig.validate and insn.off & _U64 != orig:
            rel.error = f"unexpected insn #{n} (LDX/ST/STX) value: got {insn.off & 0xFFFF}, exp {orig} -> {new}"
            return
        if new > _SHRT_MAX:
            rel.error = f"insn #{n} (LDX/ST/STX) value too big: {new}"
            return
        if out.bad_memsz:
            rel.error = None
            rel.patch.append(
                f"insn #{n} (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing pointers, "
                "unsigned integers, or fields of matching type and size."
            )
            poison()
            return
        rel.patch.append(f"patched insn #{n} (LDX/ST/STX) off {insn.off & _U64} -> {new}")
        if out.new.size != out.orig.size:
            have = _SIZE_BYTES[insn.code & 0x18]
            if have != out.orig.size:
                rel.error = f"insn #{n} (LDX/ST/STX) unexpected mem size: got {have}, exp {out.orig.size}"
                return
            if out.new.size not in _BYTES_SIZE:
                rel.error = f"insn #{n} (LDX/ST/STX) invalid new mem size: {out.new.size}"
                return
            rel.patch.append(f"patched insn #{n} (LDX/ST/STX) mem_sz {out.orig.size} -> {out.new.size}")
    elif cls == _BPF_LD:
        if (
            insn.code != _LDIMM64 or next_insn is None or insn.src or insn.off
            or next_insn.code or next_insn.dst or next_insn.src or next_insn.off
        ):  # fmt: skip
            rel.error = f"insn #{n} (LDIMM64) has unexpected form"
            return
        imm = (insn.imm & 0xFFFFFFFF) | ((next_insn.imm << 32) & _U64)
        if out.orig.validate and imm != orig:
            rel.error = f"unexpected insn #{n} (LDIMM64) value: got {imm}, exp {orig} -> {new}"
            return
        rel.patch.append(f"patched insn #{n} (LDIMM64) imm64 {imm} -> {new}")
    else:
        rel.error = f"trying to relocate unrecognized insn #{n}, code:{insn.code:#x}"


# --- candidates and the driver ------------------------------------------------------------------


def _find_candidates(local: BTF, type_id: int, targets: Sequence[Target]) -> list[tuple[Target, int]]:
    """libbpf's ``bpf_core_find_cands``: same flavor-less name, compatible kind; modules only if vmlinux has none."""
    name = local.name_of(type_id)
    if not name:
        raise SpecError("target candidate search needs a named type")
    want, local_kind = essential_name(name), local.kind_of(type_id)
    found: list[tuple[Target, int]] = []
    for i, target in enumerate(targets):
        if i == 1 and found:
            break  # vmlinux had candidates: modules are not searched
        btf = target.btf
        found.extend((target, tid) for tid in target.ids_named(want) if kinds_compat(btf.kind_of(tid), local_kind))
    return found


def _candidate(target: Target, type_id: int) -> Candidate:
    btf = target.btf
    return Candidate(target.name, type_id, kind_label(btf, type_id), btf.name_of(type_id))


def _resolve_one(
    prog: Program,
    rel: Relocation,
    targets: Sequence[Target],
    cache: dict[int, list[tuple[Target, int]]],
    *,
    patch: bool = True,
) -> None:
    """Resolve ``rel`` (libbpf's ``bpf_core_resolve_relo``), then patch its instruction if ``patch``."""
    local = prog.btf
    kind = rel.kind
    if rel.type_id != 0 and rel.type_id not in local:
        rel.error = f"local type ID {rel.type_id} does not exist"
        return
    if not isinstance(kind, CoreReloKind):
        rel.error = f"unrecognized CO-RE relocation kind {kind}"
        return
    try:
        spec = parse_spec(local, rel.type_id, rel.access, kind)
    except (SpecError, BTFError, IndexError) as exc:
        name = local.name_of(rel.type_id) or "<anon>" if rel.type_id in local else "?"
        rel.error = f"parsing [{rel.type_id}] {name} + {rel.access} failed: {exc}"
        return
    rel.local_spec = format_spec(spec)
    insn = prog.insn(rel.section, rel.insn)
    next_insn = prog.insn(rel.section, rel.insn + 1)
    if kind == CoreReloKind.TYPE_ID_LOCAL:
        if patch and insn is not None:
            _patch(rel, _Outcome(_Value(rel.type_id, validate=False), _Value(rel.type_id)), insn, next_insn)
        return
    if not local.name_of(rel.type_id):
        rel.error = f"<{kind.label}> ({int(kind)}) relocation doesn't support anonymous types"
        return
    cands = cache.get(rel.type_id)
    if cands is None:
        cands = cache[rel.type_id] = _find_candidates(local, rel.type_id, targets)
    kept: list[tuple[Target, int]] = []
    best: tuple[Spec, _Outcome] | None = None
    for i, (target, tid) in enumerate(cands):
        cand = _candidate(target, tid)
        rel.candidates.append(cand)
        try:
            targ_spec = spec_match(spec, target.btf, tid)
        except SpecError as exc:
            rel.error = f"error matching candidate #{i} [{tid}] {cand.kind} {cand.name}: {exc}"
            return
        cand.spec = format_spec(targ_spec if targ_spec is not None else Spec(target.btf, tid, kind))
        if targ_spec is None:
            continue
        cand.matched = True
        try:
            out = _calc(spec, targ_spec, rel.insn if rel.prog_insn is None else rel.prog_insn, prog.byteorder)
        except SpecError as exc:
            rel.error = str(exc)
            return
        if best is None:
            best = (targ_spec, out)
            rel.chosen, rel.target_spec = cand, targ_spec
        elif targ_spec.bit_offset != best[0].bit_offset:
            rel.error = f"field offset ambiguity: {targ_spec.bit_offset} != {best[0].bit_offset}"
            return
        elif out.poison != best[1].poison or out.new.value != best[1].new.value:
            def word(o: _Outcome) -> str:
                return f"{'failure' if o.poison else 'success'} {o.new.value}"

            rel.error = f"relocation decision ambiguity: {word(out)} != {word(best[1])}"
            return
        kept.append((target, tid))
    if kept:
        cands[:] = kept  # later relocations of this local type see only what matched here
    if best is None:
        try:
            out = _calc(spec, None, rel.insn if rel.prog_insn is None else rel.prog_insn, prog.byteorder)
        except SpecError as exc:
            rel.error = str(exc)
            return
    else:
        out = best[1]
    if not patch or insn is None:
        rel.local_value, rel.value, rel.poisoned = out.orig.value, out.new.value, out.poison
        return
    _patch(rel, out, insn, next_insn)


def relocations(prog: Program) -> list[Relocation]:
    """The program's CO-RE relocations, unresolved, tied to their programs as libbpf ties them."""
    out: list[Relocation] = []
    ext = prog.ext
    if ext is None or ext.core_relo is None:
        return out
    local = prog.btf
    for sec in ext.core_relo.sections:
        section = local.str_at(sec.name_off)
        for i, rec in enumerate(sec.records):
            assert isinstance(rec, CoreRelo)
            kind: CoreReloKind | int = CoreReloKind(rec.kind) if rec.kind in CoreReloKind._value2member_map_ else rec.kind
            access = local.str_at(rec.access_str_off) if 0 <= rec.access_str_off < local.strings.end else "?"
            what = describe(local, rec.type_id, access, kind) if isinstance(kind, CoreReloKind) else access
            rel = Relocation(section, i, rec.insn_off // 8, kind, rec.type_id, access, what)
            if rec.insn_off % 8:
                rel.error = f"instruction offset {rec.insn_off} is not a multiple of 8"
            sub = prog.subprogram_at(section, rel.insn)
            if sub is None:
                rel.skipped = f"insn #{rel.insn} belongs to no program (eliminated weak subprogram)"
            elif section.startswith("?"):
                rel.skipped = "program not loaded by default (SEC(\"?...\"))"
            else:
                rel.program, rel.prog_insn = sub.name, rel.insn - sub.first
                if prog.insn(section, rel.insn) is None:
                    rel.error = f"insn #{rel.insn} is past the end of section {section}"
                elif prog.insn(section, rel.insn) is not None and _truncated(prog, section, rel.insn, sub.first + sub.count):
                    rel.error = f"insn #{rel.prog_insn} (LDIMM64) is truncated"
            out.append(rel)
    return out


def _truncated(prog: Program, section: str, index: int, end: int) -> bool:
    insn = prog.insn(section, index)
    return insn is not None and insn.code == _LDIMM64 and index + 1 >= end


def _as_target(t: Target | BTF | str | os.PathLike[str], name: str, base: BTF | None = None) -> Target:
    if isinstance(t, Target):
        return t
    if isinstance(t, BTF):
        return Target(t, name)
    return Target(load(t, base), name)


def module_name(path: str | os.PathLike[str]) -> str:
    """A module's name from its file name (``nf_tables.ko.xz`` -> ``nf_tables``), as the kernel names its BTF."""
    base = os.path.basename(os.fspath(path))
    return base.split(".ko")[0].replace("-", "_")


def targets_of(
    target_btf: Target | BTF | str | os.PathLike[str], modules: Iterable[Target | BTF | str | os.PathLike[str]]
) -> list[Target]:
    """vmlinux then each module (read over vmlinux), as resolution targets."""
    vmlinux = _as_target(target_btf, "vmlinux")
    targets = [vmlinux]
    for m in modules:
        name = m.name if isinstance(m, Target) else module_name(m) if not isinstance(m, BTF) else "module"
        targets.append(_as_target(m, name, vmlinux.btf))
    return targets


def resolve_for_btfgen(prog: Program, targets: Sequence[Target]) -> list[Relocation]:
    """Every relocation resolved as ``bpftool gen min_core_btf`` does: no program or instruction checks."""
    cache: dict[int, list[tuple[Target, int]]] = {}
    rels = relocations(prog)
    for rel in rels:
        rel.skipped, rel.error = None, None
        _resolve_one(prog, rel, targets, cache, patch=False)
    return rels


def resolve(
    prog: Program | str | os.PathLike[str],
    target_btf: Target | BTF | str | os.PathLike[str],
    modules: Iterable[Target | BTF | str | os.PathLike[str]] = (),
) -> CoreResult:
    """Resolve every CO-RE relocation of ``prog`` against a kernel's BTF, as libbpf 1.5 would.

    ``prog`` is a BPF object (path or :class:`~btfkit.core.program.Program`);
    ``target_btf`` the kernel's vmlinux BTF (raw BTF, an ELF vmlinux, ...);
    ``modules`` module BTFs split over it (paths are read over ``target_btf``),
    searched only for local types vmlinux has no candidate for.
    """
    if not isinstance(prog, Program):
        prog = load_program(prog)
    targets = targets_of(target_btf, modules)
    cache: dict[int, list[tuple[Target, int]]] = {}
    rels = relocations(prog)
    for rel in rels:
        if rel.skipped is None and rel.error is None:
            _resolve_one(prog, rel, targets, cache)
    _mark_dead(prog, rels)
    return CoreResult(prog.name, targets[0].name, rels)


_POISON = Insn(0x85, 0, 0, 0, 195896080)  # call of a helper that does not exist ("0xbad2310")


def _mark_dead(prog: Program, rels: list[Relocation]) -> None:
    """Set ``dead`` on poisoned relocations whose instruction no path of the relocated program reaches."""
    poisoned = [r for r in rels if r.poisoned and r.error is None]
    if not poisoned:
        return
    for section in {r.section for r in poisoned}:
        code = prog.code[section]
        insns = [prog.insn(section, i) for i in range(len(code) // 8)]
        patched: list[Insn] = [i for i in insns if i is not None]
        for r in rels:
            if r.section != section or r.error is not None or r.value is None or r.skipped:
                continue
            old = patched[r.insn]
            if r.poisoned:
                patched[r.insn] = _POISON
                if old.code == _LDIMM64 and r.insn + 1 < len(patched):
                    patched[r.insn + 1] = _POISON
            elif old.cls in (_BPF_ALU, _BPF_ALU64):
                patched[r.insn] = Insn(old.code, old.dst, old.src, old.off, _signed32(r.value))
            elif old.code == _LDIMM64 and r.insn + 1 < len(patched):
                nxt = patched[r.insn + 1]
                patched[r.insn] = Insn(old.code, old.dst, old.src, old.off, _signed32(r.value))
                patched[r.insn + 1] = Insn(nxt.code, nxt.dst, nxt.src, nxt.off, _signed32(r.value >> 32))
        live: set[int] = set()
        for sub in prog.subprograms.get(section, []):
            found = reachable(patched[sub.first : sub.first + sub.count])
            if found is None:  # too many paths to tell: count everything as live
                found = set(range(sub.count))
            live.update(sub.first + i for i in found)
        for r in poisoned:
            if r.section == section:
                r.dead = r.insn not in live


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v
