"""The names a C dump writes: the ``___N`` suffix rule, in one place.

Names can clash once C's separate struct namespaces are flattened into one
header: the second ``struct foo`` to be written becomes ``foo___2``, and so on.
Struct, union and enum tags share one counter table (``type_names``); typedefs
and enumerators share another (``ident_names``).  Forward declarations and
empty enums never get a suffix.  A type's name is settled the first time it is
written and kept; enumerators are counted each time their enum is written.
"""

from __future__ import annotations

from .common import _ENUM, _FWD, _STRUCT
from .index import TypeIndex

_MAX_NAME_BYTES = 255  # libbpf builds "name___N" in a 256-byte buffer


class Names:
    """The names given so far in one dump (libbpf's ``type_names``/``ident_names`` and cache)."""

    def __init__(self, index: TypeIndex, base: Names | None = None) -> None:
        """Names for the types of ``index``; with ``base``, going on from the names it gave."""
        self.words, self.woff, self.kind, self.vmask = index.words, index.woff, index.kind, index.vmask
        self.name = index.name
        n = index.n
        if base is None:
            self.resolved: list[str | None] = [None] * n  # each type's name, ___N and all, once settled
            self.tags: list[str | None] = [None] * n  # "struct name" / "union name", once settled
            self.type_names: dict[str, int] = {}
            self.ident_names: dict[str, int] = {}
        else:
            extra = n - len(base.resolved)
            self.resolved = base.resolved + [None] * extra
            self.tags = base.tags + [None] * extra
            self.type_names = dict(base.type_names)
            self.ident_names = dict(base.ident_names)

    def settle(self, tid: int, name: str, table: dict[str, int]) -> str:
        """The name the next use of ``name`` in ``table`` is written with: the ``___N`` rule.

        ``tid`` is the type named, or -1 for an enumerator (whose suffixed name
        libbpf does not cut to its 256-byte buffer, as it does a type's).
        """
        dup = table.get(name, 0) + 1
        table[name] = dup
        if dup == 1:
            return name
        if tid < 0:
            return f"{name}___{dup}"
        new = f"{name}___{dup}"
        raw = new.encode("utf-8", "surrogateescape")
        if len(raw) > _MAX_NAME_BYTES:  # libbpf's fixed buffer cuts long names
            new = raw[:_MAX_NAME_BYTES].decode("utf-8", "surrogateescape")
        return new

    def _resolve(self, tid: int, table: dict[str, int]) -> str:
        """The name ``tid`` is written with, settling a ``___N`` suffix on first use."""
        got = self.resolved[tid]
        if got is not None:
            return got
        off = self.words[self.woff[tid]]
        if not off:
            return ""
        name = self.name(off)
        k = self.kind[tid]
        if k != _FWD and not (k == _ENUM and (self.words[self.woff[tid] + 1] & self.vmask) == 0):
            name = self.settle(tid, name, table)
        self.resolved[tid] = name
        return name

    def type_name(self, tid: int) -> str:
        """The name of a struct, union, enum, forward declaration or base type."""
        return self._resolve(tid, self.type_names)

    def ident_name(self, tid: int) -> str:
        """The name of a typedef."""
        return self._resolve(tid, self.ident_names)

    def enum_value(self, name: str) -> str:
        """The name an enumerator is written with, this time its enum is written."""
        return self.settle(-1, name, self.ident_names)

    def tag(self, tid: int) -> str:
        """``struct NAME`` or ``union NAME`` (the keyword alone when anonymous)."""
        got = self.tags[tid]
        if got is None:
            head = "struct" if self.kind[tid] == _STRUCT else "union"
            got = self.tags[tid] = f"{head} {self.type_name(tid)}" if self.words[self.woff[tid]] else head
        return got
