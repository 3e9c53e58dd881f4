"""CO-RE access specs: a relocation's access string read against a BTF.

A relocation names a root type and an access string such as ``0:1:2:3``:
the first number indexes the root as an array (``&p[0]``), each further one a
member of a struct/union or an element of an array.  libbpf keeps two views of
it, and so do we:

- the *raw* spec: every number of the string, anonymous members included;
- the *high-level* spec (:attr:`Spec.accessors`): only what matching must
  find again in the target: named members and array indexes (plus, for
  enumerator relocations, the enumerator).

A target spec is built by :mod:`btfkit.core.match` while matching a local spec
against a candidate type; both carry the field's bit offset from the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..format.btf import BTF
from ..format.ext import CoreReloKind
from ..format.kinds import Kind

__all__ = ["Accessor", "Spec", "SpecError", "essential_name", "format_spec", "parse_spec", "skip_mods_and_typedefs"]

#: libbpf's BPF_CORE_SPEC_MAX_LEN: the deepest access string it follows.
SPEC_MAX_LEN = 64


class SpecError(Exception):
    """A spec that cannot be built (libbpf returns an error code; ``code`` is its name)."""

    def __init__(self, message: str, code: str = "EINVAL"):
        super().__init__(message)
        self.code = code


@dataclass
class Accessor:
    """One high-level step: member ``idx`` of ``type_id`` (named), or array index ``idx`` (name None)."""

    type_id: int
    idx: int
    name: str | None = None


@dataclass
class Spec:
    """A local or target spec (libbpf's ``struct bpf_core_spec``)."""

    btf: BTF
    root_type_id: int
    kind: CoreReloKind
    accessors: list[Accessor] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    bit_offset: int = 0


def essential_name(name: str) -> str:
    """``name`` without its flavor: the part before the last ``___`` that has no ``_`` either side."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return name[: i + 1]
    return name


def skip_mods_and_typedefs(btf: BTF, type_id: int) -> int:
    """The first type behind ``type_id`` that is neither a modifier nor a typedef."""
    return btf.skip_modifiers(type_id, typedefs=True)


def resolve_size(btf: BTF, type_id: int) -> int:
    """libbpf's ``btf__resolve_size``, raising :class:`SpecError` where libbpf returns an error."""
    try:
        return btf.resolve_size(type_id)
    except Exception as exc:  # any BTFError or a bad ID: libbpf's -EINVAL
        raise SpecError(f"cannot size type [{type_id}]: {exc}") from exc


def is_flex_array(btf: BTF, prev: Accessor, nelems: int) -> bool:
    """An array of zero elements that is the last member of the struct the previous step named."""
    if prev.name is None or nelems > 0:
        return False
    return prev.idx == btf[prev.type_id].vlen - 1


def kind_label(btf: BTF, type_id: int) -> str:
    """libbpf's lower-case kind name of ``type_id`` (``struct``, ``typedef``, ...; ``unkn`` for void)."""
    return "unkn" if type_id == 0 else Kind(btf.kind_of(type_id)).name.lower()


def parse_spec(btf: BTF, type_id: int, access: str, kind: CoreReloKind) -> Spec:
    """Read access string ``access`` from root ``type_id`` of the local BTF (libbpf's ``bpf_core_parse_spec``)."""
    if not access or access[0] == ":":
        raise SpecError(f"malformed access string {access!r}")
    spec = Spec(btf, type_id, kind)
    if kind.is_type:
        if access != "0":
            raise SpecError(f"type-based relocation with access string {access!r} (want '0')")
        return spec
    try:
        spec.raw = [int(part) for part in access.split(":")]
    except ValueError:
        raise SpecError(f"malformed access string {access!r}") from None
    if any(i < 0 for i in spec.raw) and not kind.is_enumval:
        raise SpecError(f"negative index in access string {access!r}")
    if len(spec.raw) > SPEC_MAX_LEN:
        raise SpecError(f"access string {access!r} deeper than {SPEC_MAX_LEN}", "E2BIG")

    tid = skip_mods_and_typedefs(btf, type_id)
    t = btf[tid] if tid else None
    idx = spec.raw[0]
    first = Accessor(tid, idx)
    spec.accessors.append(first)
    if kind.is_enumval:
        if t is None or t.kind not in (Kind.ENUM, Kind.ENUM64) or len(spec.raw) > 1 or not 0 <= idx < t.vlen:
            raise SpecError(f"enumerator access {access!r} does not name an enumerator of [{type_id}]")
        first.name = t.values[idx].name
        return spec
    if not kind.is_field:
        raise SpecError(f"unknown relocation kind {int(kind)}")
    spec.bit_offset = idx * resolve_size(btf, tid) * 8
    for idx in spec.raw[1:]:
        tid = skip_mods_and_typedefs(btf, tid)
        t = btf[tid] if tid else None
        if t is not None and t.kind in (Kind.STRUCT, Kind.UNION):
            if idx >= t.vlen:
                raise SpecError(f"member #{idx} of [{tid}] {t.name or '<anon>'} is past its {t.vlen} members")
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.accessors.append(Accessor(tid, idx, m.name))
            tid = m.type_id
        elif t is not None and t.kind == Kind.ARRAY:
            arr = t.array
            elem = skip_mods_and_typedefs(btf, arr.type_id)
            if not is_flex_array(btf, spec.accessors[-1], arr.nelems) and idx >= arr.nelems:
                raise SpecError(f"index {idx} past the {arr.nelems} elements of array [{tid}]")
            spec.accessors.append(Accessor(elem, idx))
            spec.bit_offset += idx * resolve_size(btf, elem) * 8
            tid = elem
        else:
            raise SpecError(
                f"relo for [{type_id}] {btf.name_of(type_id)} (at idx {idx}) captures type [{tid}] "
                f"of unexpected kind {kind_label(btf, tid)}"
            )
    return spec


def format_spec(spec: Spec) -> str:
    """The spec as libbpf's debug log prints it: ``<kind> [id] struct name.a.b[2] (0:1:0:2 @ offset 8)``."""
    btf, tid = spec.btf, spec.root_type_id
    name = btf.name_of(tid) or "<anon>"
    out = f"<{spec.kind.short_label}> [{tid}] {kind_label(btf, tid)} {name}"
    if spec.kind.is_type:
        return out
    if spec.kind.is_enumval:
        t = btf[skip_mods_and_typedefs(btf, tid)]
        # An unmatched candidate has no index: libbpf's zeroed spec shows the first enumerator.
        idx = spec.raw[0] if spec.raw else 0
        if t.kind not in (Kind.ENUM, Kind.ENUM64) or idx >= t.vlen:
            return out
        # Printed signed or unsigned as the enum's kind flag says, as the values already are.
        return f"{out}::{t.values[idx].name} = {t.values[idx].value}"
    path = []
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            path.append(f".{acc.name}")
        elif i > 0 or acc.idx > 0:
            path.append(f"[{acc.idx}]")
    raw = ":".join(str(i) for i in spec.raw)
    where = f"{spec.bit_offset // 8}.{spec.bit_offset % 8}" if spec.bit_offset % 8 else f"{spec.bit_offset // 8}"
    return f"{out}{''.join(path)} ({raw} @ offset {where})"


def describe(btf: BTF, type_id: int, access: str, kind: CoreReloKind) -> str:
    """A relocation in words, ``struct task_struct.se.load.weight (0:52:3:0)``, even when its spec is bad."""
    if type_id != 0 and type_id not in btf:
        return f"[{type_id}] <no such type> ({access})"
    head = f"{kind_label(btf, type_id)} {btf.name_of(type_id) or '<anon>'}"
    try:
        spec = parse_spec(btf, type_id, access, kind)
    except (SpecError, KeyError, IndexError, ValueError):
        return f"{head} ({access})"
    if kind.is_type:
        return head
    if kind.is_enumval:
        return f"{head}::{spec.accessors[0].name}"
    path = "".join(
        f".{acc.name}" if acc.name is not None else f"[{acc.idx}]"
        for i, acc in enumerate(spec.accessors)
        if acc.name is not None or i > 0 or acc.idx > 0
    )
    return f"{head}{path} ({access})"
