"""What changed between two kernels' BTF: types added, removed and changed.

Type IDs shift from one kernel build to the next, so nothing here compares IDs.
Every named struct, union, enum, typedef and function of each side is described
by a *shape*: its size and members (or values, or prototype) with every
referenced type spelled out as C spells it (``struct page *``, ``u32[4]``,
``int (*)(struct sock *)``).  Named types are spelled by name only, so a
change inside ``struct page`` is reported once, on ``struct page``, and not on
every struct pointing to it; anonymous structs and unions are part of the type
that holds them: their members are flattened into it as C reaches them
(``u.a`` for a named member ``u`` of an anonymous type, plain ``a`` through an
unnamed one), so a change inside them is a change of that type.

Two types of the same kind and name are the same type when their shapes are
equal.  A name can denote several types (a kernel has a few same-named structs
from different files): equal shapes pair off first, the rest pair in ID order.

:func:`diff_btf` compares two BTFs (a split BTF compares its own types only, for
modules); :func:`diff_kernels` compares whole kernels, module by module.  The
result is a :class:`Diff`: ``to_json()`` gives the ``{"added", "removed",
"changed"}`` object of ``btfkit diff --json`` and :func:`render_text` the C-like
text.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from ..cpus import available_cpus
from ..errors import BTFError
from ..format.btf import BTF
from ..format.kinds import (
    ARRAY_NELEMS,
    ARRAY_TYPE,
    ELEMS,
    INFO,
    MEMBER_NAME,
    MEMBER_OFFSET,
    MEMBER_TYPE,
    MEMBER_WORDS,
    NAME_OFF,
    PARAM_NAME,
    PARAM_TYPE,
    PARAM_WORDS,
    SIZE,
    TYPE,
    Kind,
)
from ..format.reader import parse
from .archive import open_package
from .kernel import Kernel, open_kernel

#: A type's identity across kernels: (kind, name).
Key = tuple[str, str]

#: The kinds a diff reports, by the name ``--kind`` takes.
KINDS = ("struct", "union", "enum", "typedef", "func", "module")

_MAX_DEPTH = 64  # type chains deeper than this are broken BTF
_COMPOSITE = (Kind.STRUCT, Kind.UNION)


#: Where a declarator puts the declared name: types are spelled as C declarations of
#: ``NAME`` (``int (*NAME)(void)``, ``char NAME[16]``) with this character for ``NAME``.
HOLE = "\x01"


def type_name(decl: str) -> str:
    """The C type of a declaration spelled with :data:`HOLE`: ``int (*)(void)``, ``char[16]``."""
    return decl.replace(" " + HOLE, "").replace(HOLE, "")


def declare(decl: str, name: str) -> str:
    """The C declaration of ``name`` with the type spelled by ``decl``."""
    return decl.replace(HOLE, name) if name else type_name(decl)


class MemberShape(NamedTuple):
    """A struct/union member as C reaches it: ``path`` through anonymous members."""

    path: str
    decl: str  # the member's type as a declaration (see HOLE)
    bit_offset: int  # from the start of the outermost type
    bitfield_size: int  # 0 unless a bitfield
    size: int  # the byte size of the member's type (-1 when it has none)
    via: str  # the anonymous unions/structs it sits in, outermost first ("union/struct")

    @property
    def type(self) -> str:
        """The member's C type."""
        return type_name(self.decl)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.path,
            "type": self.type,
            "bit_offset": self.bit_offset,
            "size": self.size,
        }
        if self.bitfield_size:
            out["bitfield_size"] = self.bitfield_size
        return out


class Shape(NamedTuple):
    """One named type, described without type IDs; equal shapes are the same type."""

    kind: str
    name: str
    size: int = 0  # structs, unions, enums
    members: tuple[MemberShape, ...] = ()  # structs, unions, typedefs of anonymous ones
    values: tuple[tuple[str, int], ...] = ()  # enums
    signed: bool = False  # enums
    target: str = (
        ""  # typedefs: the type they name; funcs: the return type (declarations, see HOLE)
    )
    params: tuple[tuple[str, str], ...] = ()  # funcs: (name, type declaration) per parameter
    module: str = ""  # the module a module type belongs to ("" for vmlinux)

    @property
    def composite(self) -> bool:
        """Whether it has members (a struct, union, or a typedef of an anonymous one)."""
        return bool(self.members) or self.kind in ("struct", "union")

    def summary(self) -> dict[str, Any]:
        """The JSON of an added or removed type."""
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.module:
            out["module"] = self.module
        if self.kind in ("struct", "union", "enum"):
            out["size"] = self.size
        if self.kind == "typedef":
            out["type"] = type_name(self.target)
        if self.kind == "func":
            out["return"] = type_name(self.target)
            out["params"] = _params_json(self.params)
        return out


def _params_json(params: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": n, "type": type_name(t)} for n, t in params]


@dataclass
class Change:
    """One type present on both sides with different shapes."""

    old: Shape
    new: Shape
    members_added: list[MemberShape] = field(default_factory=list)
    members_removed: list[MemberShape] = field(default_factory=list)
    members_changed: list[tuple[MemberShape, MemberShape]] = field(default_factory=list)
    reordered: bool = False  # the same members in another order (unions)

    @property
    def kind(self) -> str:
        return self.new.kind

    @property
    def name(self) -> str:
        return self.new.name

    @property
    def layout_changed(self) -> bool:
        """Whether sizes or offsets differ (what breaks a program compiled for the old layout)."""
        if self.old.size != self.new.size or self.members_added or self.members_removed:
            return True
        return any(
            (a.bit_offset, a.bitfield_size, a.size) != (b.bit_offset, b.bitfield_size, b.size)
            for a, b in self.members_changed
        )

    def only_layout(self) -> Change | None:
        """This change kept to its layout part (``None`` when it has none)."""
        if not self.new.composite or not self.layout_changed:
            return None
        moved = [
            (a, b)
            for a, b in self.members_changed
            if (a.bit_offset, a.bitfield_size, a.size) != (b.bit_offset, b.bitfield_size, b.size)
        ]
        return Change(self.old, self.new, self.members_added, self.members_removed, moved)

    def to_json(self) -> dict[str, Any]:
        old, new = self.old, self.new
        out: dict[str, Any] = {"kind": new.kind, "name": new.name}
        if new.module:
            out["module"] = new.module
        if old.kind != new.kind:
            out["was"] = old.kind
        if old.size != new.size:
            out["size"] = [old.size, new.size]
        if new.composite:
            members: dict[str, Any] = {}
            if self.members_added:
                members["added"] = [m.to_json() for m in self.members_added]
            if self.members_removed:
                members["removed"] = [m.to_json() for m in self.members_removed]
            if self.members_changed:
                members["changed"] = [_member_change(a, b) for a, b in self.members_changed]
            if self.reordered:
                members["reordered"] = True
            if members:
                out["members"] = members
        if new.kind == "enum":
            values = _enum_changes(old, new)
            if values:
                out["values"] = values
            if old.signed != new.signed:
                out["signed"] = [old.signed, new.signed]
        if old.target != new.target:
            out["return" if new.kind == "func" else "type"] = [
                type_name(old.target),
                type_name(new.target),
            ]
        if old.params != new.params:
            out["params"] = [_params_json(old.params), _params_json(new.params)]
        return out


def _member_change(a: MemberShape, b: MemberShape) -> dict[str, Any]:
    out: dict[str, Any] = {"name": b.path}
    for key, x, y in (
        ("bit_offset", a.bit_offset, b.bit_offset),
        ("bitfield_size", a.bitfield_size, b.bitfield_size),
        ("size", a.size, b.size),
        ("type", a.type, b.type),
        ("in", a.via, b.via),
    ):
        if x != y:
            out[key] = [x, y]
    return out


def _enum_changes(old: Shape, new: Shape) -> dict[str, Any]:
    a, b = dict(old.values), dict(new.values)
    out: dict[str, Any] = {}
    added = {k: v for k, v in b.items() if k not in a}
    removed = {k: v for k, v in a.items() if k not in b}
    changed = {k: [a[k], b[k]] for k in a.keys() & b.keys() if a[k] != b[k]}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    if changed:
        out["changed"] = dict(sorted(changed.items()))
    return out


@dataclass
class Diff:
    """The types added, removed and changed from an old BTF (or kernel) to a new one."""

    added: list[Shape] = field(default_factory=list)
    removed: list[Shape] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def extend(self, other: Diff) -> None:
        """Add ``other``'s entries to this diff."""
        self.added += other.added
        self.removed += other.removed
        self.changed += other.changed

    def filtered(
        self,
        kinds: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
        *,
        only_layout: bool = False,
    ) -> Diff:
        """The entries of the given kinds whose names match one of the glob ``names``;
        with ``only_layout``, changes only where sizes or offsets changed."""
        kind_set = set(kinds) if kinds else None
        globs = list(names) if names else None

        def keep(s: Shape) -> bool:
            if kind_set is not None and s.kind not in kind_set:
                return False
            return globs is None or any(fnmatchcase(s.name, g) for g in globs)

        changed = [c for c in self.changed if keep(c.new)]
        if only_layout:
            changed = [k for k in (c.only_layout() for c in changed) if k is not None]
        return Diff(
            [s for s in self.added if keep(s)], [s for s in self.removed if keep(s)], changed
        )

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """``{"added": [...], "removed": [...], "changed": [...]}``, each entry naming kind and name."""
        return {
            "added": [s.summary() for s in self.added],
            "removed": [s.summary() for s in self.removed],
            "changed": [c.to_json() for c in self.changed],
        }


# --- describing one BTF ---------------------------------------------------------------------


class _Describer:
    """Spells types and builds shapes for one BTF, each referenced type spelled once.

    A vmlinux has some 60,000 named types to describe: records are read as words,
    not through :class:`~btfkit.format.btf.Type` views.
    """

    def __init__(self, btf: BTF, module: str = ""):
        self.btf = btf
        self.module = module
        self._spelled: dict[int, str] = {}
        self._sizes: dict[int, int] = {}

    def _record(self, type_id: int) -> tuple[BTF, array[int], int, int, int]:
        """(owner, its words, first word, kind, vlen) of ``type_id``."""
        owner, w = self.btf.locate(type_id)
        words = owner.words
        info = words[w + INFO]
        fmt = owner.info_format
        return owner, words, w, fmt.kind(info), fmt.vlen(info)

    def size(self, type_id: int) -> int:
        """The byte size of ``type_id`` (-1 for void and functions)."""
        size = self._sizes.get(type_id)
        if size is None:
            try:
                size = self.btf.resolve_size(type_id)
            except BTFError:
                size = -1
            self._sizes[type_id] = size
        return size

    def spell(self, type_id: int, depth: int = 0) -> str:
        """``type_id`` as C spells a type (anonymous structs, unions and enums in full)."""
        done = self._spelled.get(type_id)
        if done is not None:
            return done
        if depth > _MAX_DEPTH:
            raise BTFError(f"type [{type_id}]: type chain too deep or cyclic")
        text = self._spell(type_id, depth + 1)
        self._spelled[type_id] = text
        return text

    def _spell(self, type_id: int, depth: int) -> str:
        if type_id == 0:
            return "void " + HOLE
        owner, words, w, k, _vlen = self._record(type_id)
        name = owner.strings.get(words[w + NAME_OFF])
        ref = words[w + TYPE]  # the third word: a type ID, or the size (ENUM, ENUM64)
        if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF):
            return f"{name} {HOLE}"
        if k == Kind.PTR:
            inner = self.spell(ref, depth)
            after = inner[inner.index(HOLE) + 1 : inner.index(HOLE) + 2]
            # A pointer to an array or a function is written (*NAME)[n] or (*NAME)(args).
            return inner.replace(HOLE, f"(*{HOLE})" if after in ("[", "(") else f"*{HOLE}")
        if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            qualifier = f"__tag({name})" if k == Kind.TYPE_TAG else Kind(k).name.lower()
            inner = self.spell(ref, depth)
            if (ref and self.btf.kind_of(ref) in (Kind.PTR, Kind.ARRAY)) or k == Kind.TYPE_TAG:
                return inner.replace(HOLE, f"{qualifier} {HOLE}")  # int *const p
            return f"{qualifier} {inner}"  # const int p
        if k == Kind.ARRAY:
            return self.spell(words[w + ARRAY_TYPE], depth).replace(HOLE, f"{HOLE}[{words[w + ARRAY_NELEMS]}]")
        if k == Kind.FWD:
            return f"{'union' if words[w + INFO] >> 31 else 'struct'} {name} {HOLE}"
        if k == Kind.FUNC_PROTO:
            ret, params = self._proto(type_id, depth)
            return ret.replace(HOLE, f"{HOLE}({params})")
        if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
            tag = "enum" if k == Kind.ENUM64 else Kind(k).name.lower()
            if name:
                return f"{tag} {name} {HOLE}"
            if k in _COMPOSITE:  # anonymous: spelled with its body, as C writes it in place
                body = " ".join(
                    f"{declare(m.decl, m.path)}{f': {m.bitfield_size}' if m.bitfield_size else ''} @{m.bit_offset};"
                    for m in self.members(type_id, depth)
                )
                return f"{tag} {{ {body} }} {HOLE}"
            values = ", ".join(f"{n} = {v}" for n, v in self.btf[type_id].values)
            return f"{tag} {{ {values} }} @{ref} {HOLE}"
        if k == Kind.DECL_TAG:
            return self.spell(ref, depth)
        return f"<kind {k} {name}> {HOLE}"

    def _proto(self, type_id: int, depth: int) -> tuple[str, str]:
        """A FUNC_PROTO's return type (a declaration) and its parameter types, joined."""
        _owner, words, w, _k, vlen = self._record(type_id)
        spell = self.spell
        params = ", ".join(
            type_name(spell(words[p + PARAM_TYPE], depth)) if words[p + PARAM_TYPE] else "..."
            for p in range(w + ELEMS, w + ELEMS + PARAM_WORDS * vlen, PARAM_WORDS)
        )
        return spell(words[w + TYPE], depth), params or "void"

    def members(
        self, type_id: int, depth: int = 0, prefix: str = "", at: int = 0, via: str = ""
    ) -> list[MemberShape]:
        """The members of a struct or union, anonymous ones flattened in (see the module doc)."""
        if depth > _MAX_DEPTH:
            raise BTFError(f"type [{type_id}]: anonymous members nested too deep")
        owner, words, w, _k, vlen = self._record(type_id)
        get = owner.strings.get
        bitfields = words[w + INFO] >> 31
        out: list[MemberShape] = []
        for p in range(w + ELEMS, w + ELEMS + MEMBER_WORDS * vlen, MEMBER_WORDS):
            name, mtype, off = get(words[p + MEMBER_NAME]), words[p + MEMBER_TYPE], words[p + MEMBER_OFFSET]
            bits = off >> 24 if bitfields else 0
            offset = at + (off & 0xFFFFFF if bitfields else off)
            kind = self.btf.kind_of(mtype) if mtype else 0
            if kind in _COMPOSITE and not bits and not self.btf.name_of(mtype):
                tag = Kind(kind).name.lower()
                inner = f"{via}/{tag}" if via else tag
                if name:  # the named member itself, so that its size shows
                    out.append(
                        MemberShape(
                            prefix + name, f"{tag} {{...}} {HOLE}", offset, 0, self.size(mtype), via
                        )
                    )
                out += self.members(
                    mtype, depth + 1, f"{prefix}{name}." if name else prefix, offset, inner
                )
            else:
                out.append(
                    MemberShape(
                        prefix + name, self.spell(mtype, depth), offset, bits, self.size(mtype), via
                    )
                )
        return out

    def shapes(self) -> dict[Key, list[Shape]]:
        """Every reported type among the BTF's own types, by (kind, name), in ID order."""
        btf, module = self.btf, self.module
        get, words = btf.strings.get, btf.words
        groups, ids = btf.records_by_kind(), btf.ids_by_kind()
        out: dict[Key, list[Shape]] = {}

        def add(s: Shape) -> None:
            out.setdefault((s.kind, s.name), []).append(s)

        for kind in _COMPOSITE:
            label = Kind(kind).name.lower()
            for w, tid in zip(groups[kind], ids[kind], strict=True):
                if words[w + NAME_OFF]:
                    add(
                        Shape(
                            label,
                            get(words[w + NAME_OFF]),
                            words[w + SIZE],
                            tuple(self.members(tid)),
                            module=module,
                        )
                    )
        for kind in (Kind.ENUM, Kind.ENUM64):
            for w, tid in zip(groups[kind], ids[kind], strict=True):
                if words[w + NAME_OFF]:
                    t = btf[tid]
                    add(
                        Shape(
                            "enum",
                            t.name,
                            t.size,
                            values=t.values,
                            signed=t.kind_flag,
                            module=module,
                        )
                    )
        for w in groups[Kind.TYPEDEF]:
            name, target = get(words[w + NAME_OFF]), words[w + TYPE]
            target_kind = btf.kind_of(target)
            if target_kind in _COMPOSITE and not btf.name_of(target):  # typedef struct {...} name;
                label = Kind(target_kind).name.lower()
                add(
                    Shape(
                        "typedef",
                        name,
                        self.size(target),
                        tuple(self.members(target)),
                        target=f"{label} {{...}} {HOLE}",
                        module=module,
                    )
                )
            else:
                add(Shape("typedef", name, target=self.spell(target), module=module))
        for w in groups[Kind.FUNC]:
            _owner, pwords, p, _k, vlen = self._record(words[w + TYPE])
            pget = _owner.strings.get
            params = tuple(
                (
                    pget(pwords[q + PARAM_NAME]),
                    self.spell(pwords[q + PARAM_TYPE]) if pwords[q + PARAM_TYPE] else "... " + HOLE,
                )
                for q in range(p + ELEMS, p + ELEMS + PARAM_WORDS * vlen, PARAM_WORDS)
            )
            add(
                Shape(
                    "func",
                    get(words[w + NAME_OFF]),
                    target=self.spell(pwords[p + TYPE]),
                    params=params,
                    module=module,
                )
            )
        return out


def describe(btf: BTF, module: str = "") -> dict[Key, list[Shape]]:
    """The shapes of ``btf``'s own named types, by (kind, name), in ID order."""
    return _Describer(btf, module).shapes()


# --- comparing ----------------------------------------------------------------------------


def _compare(old: Shape, new: Shape) -> Change:
    change = Change(old, new)
    if not (old.members or new.members):
        return change
    before = {m.path: m for m in old.members}
    after = {m.path: m for m in new.members}
    change.members_removed = [m for m in old.members if m.path not in after]
    change.members_added = [m for m in new.members if m.path not in before]
    change.members_changed = [
        (before[m.path], m) for m in new.members if m.path in before and before[m.path] != m
    ]
    common_old = [m.path for m in old.members if m.path in after]
    common_new = [m.path for m in new.members if m.path in before]
    change.reordered = common_old != common_new
    return change


def diff_shapes(old: Mapping[Key, list[Shape]], new: Mapping[Key, list[Shape]]) -> Diff:
    """Compare two :func:`describe` results."""
    out = Diff()
    for key in sorted(old.keys() | new.keys()):
        a, b = list(old.get(key, ())), list(new.get(key, ()))
        if a == b:
            continue
        # Equal shapes pair off first: a same-named type that did not change is no change.
        for s in list(a):
            if s in b:
                a.remove(s)
                b.remove(s)
        pairs = min(len(a), len(b))
        out.changed += [_compare(x, y) for x, y in zip(a[:pairs], b[:pairs], strict=True)]
        out.removed += a[pairs:]
        out.added += b[pairs:]
    return out


def diff_btf(old: BTF, new: BTF, module: str = "") -> Diff:
    """The named types added, removed and changed from ``old`` to ``new`` (own types of each)."""
    return diff_shapes(describe(old, module), describe(new, module))


def _changed_keys(old: Mapping[Key, int], new: Mapping[Key, int]) -> list[Key]:
    return [k for k in old.keys() | new.keys() if old.get(k) != new.get(k)]


def _fingerprints(shapes: Mapping[Key, list[Shape]]) -> dict[Key, int]:
    return {k: hash(tuple(v)) for k, v in shapes.items()}


def _describe_elsewhere(kernel: Kernel, conn: Connection) -> None:
    """In a forked process: describe ``kernel``'s vmlinux, send the fingerprints, then the asked-for shapes."""
    try:
        shapes = describe(kernel.vmlinux())
        conn.send(_fingerprints(shapes))
        wanted = conn.recv()
        conn.send({k: shapes[k] for k in wanted if k in shapes})
    except BaseException as exc:  # reported to the parent, which raises it
        conn.send(exc)
    finally:
        conn.close()
        os._exit(0)  # a forked child: no exit handlers of the parent


def _diff_vmlinux(old: Kernel, new: Kernel) -> Diff:
    """The vmlinux diff, the two sides described side by side on two CPUs when there are two.

    The forked side sends only a fingerprint (hash) of each (kind, name)'s shapes,
    then the shapes of the names whose fingerprints differ: shipping 60,000 shapes
    across would cost more than describing them.  (Forked processes share the
    parent's string-hash secret, so their hashes compare.)
    """
    forking = (
        "fork" in multiprocessing.get_all_start_methods()
        and available_cpus() > 1
        and threading.active_count() == 1  # forking a threaded process can deadlock
        and not multiprocessing.current_process().daemon  # (a pool's worker may have no children)
    )
    if not forking:
        return diff_btf(old.vmlinux(), new.vmlinux())
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_describe_elsewhere, args=(old, theirs), daemon=True)
    child.start()
    try:
        new_shapes = describe(new.vmlinux())
        old_prints = mine.recv()
        if isinstance(old_prints, BaseException):
            raise old_prints
        keys = _changed_keys(old_prints, _fingerprints(new_shapes))
        mine.send(keys)
        old_shapes = mine.recv()
        if isinstance(old_shapes, BaseException):
            raise old_shapes
    finally:
        mine.close()
        child.join()
    return diff_shapes(old_shapes, {k: new_shapes[k] for k in keys if k in new_shapes})


def diff_kernels(old: Kernel, new: Kernel) -> Diff:
    """Compare two kernels: vmlinux, then each module's own types (split over its vmlinux).

    A module only one side has is reported added or removed as a type of kind ``"module"``.
    """
    out = _diff_vmlinux(old, new)
    if not (old.modules or new.modules):
        return out
    old_base, new_base = old.vmlinux(), new.vmlinux()
    for name in sorted(old.modules.keys() | new.modules.keys()):
        if name not in new.modules:
            out.removed.append(Shape("module", name, module=name))
        elif name not in old.modules:
            out.added.append(Shape("module", name, module=name))
        else:
            a, b = old.modules[name](), new.modules[name]()
            out.extend(
                diff_btf(
                    parse(a, old_base) if a else BTF(old_base),
                    parse(b, new_base) if b else BTF(new_base),
                    name,
                )
            )
    return out


def open_any(path: str | os.PathLike[str]) -> Kernel:
    """The kernel at ``path``: an image package (``.deb``), or what :func:`~btfkit.fleet.kernel.open_kernel` reads."""
    if os.fspath(path).endswith(".deb"):
        return open_package(path)
    return open_kernel(path)


def diff_paths(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> Diff:
    """Compare the kernels at two paths: BTF or vmlinux files, packages, archive entries, kernel trees."""
    return diff_kernels(open_any(old), open_any(new))


@dataclass(frozen=True)
class PairJob:
    """One pair of kernels to compare, with the filters to apply (a unit of work for the engine)."""

    old: str
    new: str
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    only_layout: bool = False


def diff_pair(job: PairJob) -> tuple[PairJob, Diff]:
    """The job and its filtered diff (what ``btfkit diff K1 K2 K3 ...`` runs per pair)."""
    return job, diff_paths(job.old, job.new).filtered(job.kinds, job.names, only_layout=job.only_layout)


# --- text ----------------------------------------------------------------------------


_COLOURS = {"-": "\033[31m", "+": "\033[32m", "~": "\033[33m", "@": "\033[1m"}
_RESET = "\033[0m"


def _where(m: MemberShape) -> str:
    byte, bit = divmod(m.bit_offset, 8)
    at = f"{byte}" if not bit else f"{byte}:{bit}"
    bits = f" bits {m.bitfield_size}" if m.bitfield_size else ""
    return f"offset {at}{bits}, size {m.size}"


def _member_line(m: MemberShape) -> str:
    bits = f": {m.bitfield_size}" if m.bitfield_size else ""
    return f"\t{declare(m.decl, m.path)}{bits};"


def _head(s: Shape) -> str:
    where = f"  /* module {s.module} */" if s.module else ""
    if s.kind == "func":
        params = ", ".join(declare(t, n) for n, t in s.params) or "void"
        return f"{declare(s.target, s.name)}({params});{where}"
    if s.kind == "typedef" and not s.members:
        return f"typedef {declare(s.target, s.name)};{where}"
    if s.kind == "module":
        return f"module {s.name}"
    size = f"  /* size {s.size} */" if s.kind != "typedef" or s.members else ""
    return f"{s.kind} {s.name};{size}{where}"


def _change_lines(c: Change) -> Iterator[tuple[str, str]]:
    old, new = c.old, c.new
    size = f" size {old.size} -> {new.size}" if old.size != new.size else ""
    where = f" module {new.module}" if new.module else ""
    note = f"  /*{size}{where} */" if size or where else ""
    if new.kind in ("func",) or (new.kind == "typedef" and not new.composite):
        yield "-", _head(old)
        yield "+", _head(new)
        return
    if old.kind != new.kind:
        yield "@", f"{old.kind} {old.name} -> {new.kind} {new.name} {{{note}"
    else:
        yield "@", f"{new.kind} {new.name} {{{note}"
    if new.kind == "enum":
        before, after = dict(old.values), dict(new.values)
        for n, v in old.values:
            if n not in after:
                yield "-", f"\t{n} = {v},"
            elif after[n] != v:
                yield "~", f"\t{n} = {v} -> {after[n]},"
        for n, v in new.values:
            if n not in before:
                yield "+", f"\t{n} = {v},"
    for m in c.members_removed:
        yield "-", f"{_member_line(m)}  /* {_where(m)} */"
    for m in c.members_added:
        yield "+", f"{_member_line(m)}  /* {_where(m)} */"
    for a, b in c.members_changed:
        if a.type != b.type or a.bitfield_size != b.bitfield_size:
            yield "-", f"{_member_line(a)}  /* {_where(a)} */"
            yield "+", f"{_member_line(b)}  /* {_where(b)} */"
        else:
            yield "~", f"{_member_line(b)}  /* {_where(a)} -> {_where(b)} */"
    if c.reordered:
        yield "~", "\t/* members reordered */"
    yield "@", "};"


def render_text(diff: Diff, *, colour: bool = False) -> Iterator[str]:
    """The diff as C-like lines (``-`` removed, ``+`` added, ``~`` moved or resized), each ending in a newline."""

    def line(mark: str, text: str) -> str:
        prefix = " " if mark == "@" else mark
        body = f"{prefix} {text}" if mark != "@" else text
        return f"{_COLOURS[mark]}{body}{_RESET}\n" if colour else f"{body}\n"

    for s in diff.removed:
        yield line("-", _head(s))
    for s in diff.added:
        yield line("+", _head(s))
    for c in diff.changed:
        yield "\n"
        for mark, text in _change_lines(c):
            yield line(mark, text)
