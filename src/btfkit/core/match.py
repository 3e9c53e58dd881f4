"""Matching a local spec against one candidate target type, with libbpf's compatibility rules.

Three relations, as libbpf 1.5 defines them:

- *field compatibility* (:func:`fields_are_compat`): what a field access needs
  of the target field's type: any struct/union for a struct/union, same kind
  otherwise (enum and enum64 count as one), enums and forward declarations
  with the same flavor-less name (or one anonymous), integers that are not
  old-style bitfield integers, arrays of compatible elements; pointers and
  floats always;
- *type compatibility* (:func:`types_are_compat`, for ``bpf_core_type_exists``
  / ``type_size`` / ``type_id_target``): a looser structural walk through
  pointers, arrays and function prototypes;
- *type match* (:func:`types_match`, for ``bpf_core_type_matches``): a stricter
  walk where names, integer size and signedness, array lengths, enumerator
  names and struct members (by name, recursively) must all correspond.

Each returns True/False, or raises :class:`~btfkit.core.spec.SpecError` where
libbpf gives up with an error (too deep a recursion).
"""

from __future__ import annotations

from ..format.btf import BTF, Type
from ..format.ext import CoreReloKind
from ..format.kinds import IntEncoding, Kind
from .spec import (
    SPEC_MAX_LEN,
    Accessor,
    Spec,
    SpecError,
    essential_name,
    is_flex_array,
    resolve_size,
)
from .spec import skip_mods_and_typedefs as skip

__all__ = ["fields_are_compat", "kinds_compat", "spec_match", "types_are_compat", "types_match"]

_ENUMS = (Kind.ENUM, Kind.ENUM64)
_COMPOSITES = (Kind.STRUCT, Kind.UNION)
_MAX_DEPTH = 32


def _kind(btf: BTF, type_id: int) -> int:
    return Kind.UNKN if type_id == 0 else btf.kind_of(type_id)


def kinds_compat(a: int, b: int) -> bool:
    """libbpf's ``btf_kind_core_compat``: the same kind, or both enums (32- or 64-bit)."""
    return a == b or (a in _ENUMS and b in _ENUMS)


def _int_offset(t: Type) -> int:
    return t.bit_offset


def _param_pairs(lt: Type, tt: Type) -> list[tuple[int, int]] | None:
    """The (local, target) parameter types of two function prototypes; None when their counts differ."""
    lp, tp = lt.params, tt.params
    if len(lp) != len(tp):
        return None
    return [(a.type_id, b.type_id) for a, b in zip(lp, tp, strict=True)]


def fields_are_compat(local: BTF, local_id: int, targ: BTF, targ_id: int) -> bool:
    """Whether a field of type ``local_id`` may be read from a target field of type ``targ_id``."""
    while True:
        local_id, targ_id = skip(local, local_id), skip(targ, targ_id)
        lk, tk = _kind(local, local_id), _kind(targ, targ_id)
        if lk in _COMPOSITES and tk in _COMPOSITES:
            return True
        if not kinds_compat(lk, tk):
            return False
        if lk in (Kind.PTR, Kind.FLOAT):
            return True
        if lk in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            ln, tn = essential_name(local.name_of(local_id)), essential_name(targ.name_of(targ_id))
            return not ln or not tn or ln == tn
        if lk == Kind.INT:
            return _int_offset(local[local_id]) == 0 and _int_offset(targ[targ_id]) == 0
        if lk == Kind.ARRAY:
            local_id, targ_id = local[local_id].array.type_id, targ[targ_id].array.type_id
            continue
        return False


def types_are_compat(local: BTF, local_id: int, targ: BTF, targ_id: int, level: int = _MAX_DEPTH) -> bool:
    """libbpf's ``bpf_core_types_are_compat``: the relation behind type existence, size and ID relocations."""
    if not kinds_compat(_kind(local, local_id), _kind(targ, targ_id)):
        return False
    for _ in range(_MAX_DEPTH):
        local_id, targ_id = skip(local, local_id), skip(targ, targ_id)
        lk, tk = _kind(local, local_id), _kind(targ, targ_id)
        if not kinds_compat(lk, tk):
            return False
        if lk in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD, Kind.ENUM64):
            return True
        lt, tt = local[local_id], targ[targ_id]
        if lk == Kind.INT:
            return _int_offset(lt) == 0 and _int_offset(tt) == 0
        if lk == Kind.PTR:
            local_id, targ_id = lt.type_id, tt.type_id
        elif lk == Kind.ARRAY:
            local_id, targ_id = lt.array.type_id, tt.array.type_id
        elif lk == Kind.FUNC_PROTO:
            pairs = _param_pairs(lt, tt)
            if pairs is None:
                return False
            for a, b in pairs:
                if level <= 0:
                    raise SpecError("function prototypes nested too deep")
                if not types_are_compat(local, skip(local, a), targ, skip(targ, b), level - 1):
                    return False
            local_id, targ_id = skip(local, lt.type_id), skip(targ, tt.type_id)
        else:
            return False  # libbpf: "unexpected kind ... relocated"
    raise SpecError("type chain deeper than 32")


def _names_match(local_name: str, targ_name: str) -> bool:
    if not targ_name:
        return not local_name
    return essential_name(local_name) == essential_name(targ_name)


def _enums_match(lt: Type, tt: Type) -> bool:
    if lt.size != tt.size or lt.vlen > tt.vlen:
        return False
    targ_names = [v.name for v in tt.values]
    return all(any(_names_match(v.name, n) for n in targ_names) for v in lt.values)


def _composites_match(local: BTF, lt: Type, targ: BTF, tt: Type, *, behind_ptr: bool, level: int) -> bool:
    if lt.vlen > tt.vlen:
        return False
    targ_members = tt.members
    for m in lt.members:
        if not any(
            _names_match(m.name, tm.name) and types_match(local, m.type_id, targ, tm.type_id, behind_ptr=behind_ptr, level=level - 1)
            for tm in targ_members
        ):
            return False
    return True


def types_match(
    local: BTF, local_id: int, targ: BTF, targ_id: int, *, behind_ptr: bool = False, level: int = _MAX_DEPTH
) -> bool:
    """libbpf's ``bpf_core_types_match``: the relation behind ``bpf_core_type_matches``."""
    if level <= 0:
        raise SpecError("types nested too deep to match")
    for _ in range(_MAX_DEPTH):
        local_id, targ_id = skip(local, local_id), skip(targ, targ_id)
        if not _names_match(local.name_of(local_id), targ.name_of(targ_id)):
            return False
        lk, tk = _kind(local, local_id), _kind(targ, targ_id)
        if lk == Kind.UNKN:
            return lk == tk
        lt, tt = local[local_id], targ[targ_id]
        if lk == Kind.FWD:
            if lk == tk:
                return lt.kind_flag == tt.kind_flag
            # A forward declaration behind a pointer stands for a struct (kind flag 0) or union (1).
            return behind_ptr and ((tk == Kind.STRUCT and not lt.kind_flag) or (tk == Kind.UNION and lt.kind_flag))
        if lk in _ENUMS:
            return tk in _ENUMS and _enums_match(lt, tt)
        if lk in _COMPOSITES:
            if behind_ptr:
                if lk == tk:
                    return True
                return tk == Kind.FWD and (lk == Kind.UNION) == tt.kind_flag
            return lk == tk and _composites_match(local, lt, targ, tt, behind_ptr=behind_ptr, level=level)
        if lk != tk:
            return False
        if lk == Kind.INT:
            signed = IntEncoding.SIGNED
            return lt.size == tt.size and (lt.encoding & signed) == (tt.encoding & signed)
        if lk == Kind.PTR:
            behind_ptr = True
            local_id, targ_id = lt.type_id, tt.type_id
        elif lk == Kind.ARRAY:
            if lt.array.nelems != tt.array.nelems:
                return False
            local_id, targ_id = lt.array.type_id, tt.array.type_id
        elif lk == Kind.FUNC_PROTO:
            pairs = _param_pairs(lt, tt)
            if pairs is None:
                return False
            for a, b in pairs:
                if not types_match(local, a, targ, b, behind_ptr=behind_ptr, level=level - 1):
                    return False
            local_id, targ_id = lt.type_id, tt.type_id
        else:
            return False  # libbpf: "unexpected kind ... relocated"
    raise SpecError("type chain deeper than 32")


def _match_member(local: Spec, acc: Accessor, targ: BTF, targ_id: int, spec: Spec) -> int | None:
    """Find ``acc``'s member by name in ``targ_id``, descending into anonymous members.

    Returns the member's type ID, having appended its raw steps and named
    accessor to ``spec``; or None.  Mirrors libbpf step for step, quirks
    included: the first member of the right name decides (an incompatible one
    fails this level, without undoing its raw step), while an enclosing
    anonymous level goes on to its next member.
    """
    targ_id = skip(targ, targ_id)
    if _kind(targ, targ_id) not in _COMPOSITES:
        return None
    local_name = local.btf[acc.type_id].members[acc.idx].name
    local_type = local.btf[acc.type_id].members[acc.idx].type_id
    for i, m in enumerate(targ[targ_id].members):
        if len(spec.raw) == SPEC_MAX_LEN:
            raise SpecError("struct/union/array nesting too deep", "E2BIG")
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found = _match_member(local, acc, targ, m.type_id, spec)
            if found is not None:
                return found
        elif m.name == local_name:
            if fields_are_compat(local.btf, local_type, targ, m.type_id):
                spec.accessors.append(Accessor(targ_id, i, m.name))
                return m.type_id
            return None
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return None


def spec_match(local: Spec, targ: BTF, targ_id: int) -> Spec | None:
    """The target spec of ``local`` on candidate ``targ_id``, or None when it does not match."""
    spec = Spec(targ, targ_id, local.kind)
    if local.kind.is_type:
        if local.kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, targ, targ_id)
        else:
            ok = types_are_compat(local.btf, local.root_type_id, targ, targ_id)
        return spec if ok else None
    if local.kind.is_enumval:
        tid = skip(targ, targ_id)
        if _kind(targ, tid) not in _ENUMS:
            return None
        want = essential_name(local.accessors[0].name or "")
        for i, v in enumerate(targ[tid].values):
            if essential_name(v.name) == want:
                spec.accessors.append(Accessor(tid, i, v.name))
                spec.raw.append(i)
                return spec
        return None
    if not local.kind.is_field:
        raise SpecError(f"unknown relocation kind {int(local.kind)}")
    tid = targ_id
    for i, acc in enumerate(local.accessors):
        tid = skip(targ, tid)
        if acc.name is not None:
            found = _match_member(local, acc, targ, tid, spec)
            if found is None:
                return None
            tid = found
            continue
        if i > 0:
            if _kind(targ, tid) != Kind.ARRAY:
                return None
            arr = targ[tid].array
            if not is_flex_array(targ, spec.accessors[-1], arr.nelems) and acc.idx >= arr.nelems:
                return None
            tid = skip(targ, arr.type_id)
        if len(spec.raw) == SPEC_MAX_LEN:
            raise SpecError("struct/union/array nesting too deep", "E2BIG")
        spec.accessors.append(Accessor(tid, acc.idx))
        spec.raw.append(acc.idx)
        spec.bit_offset += acc.idx * resolve_size(targ, tid) * 8
    return spec
