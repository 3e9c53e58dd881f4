"""What the C dump reads of a BTF: every record in place, by type ID.

:class:`TypeIndex` lays the records of a BTF (and of its bases) out as one run
of words with each type's start (``woff``) and kind, and reads names through a
cached reader.  Only the kind is gathered for every ID up front: most records
are never looked at.  It also knows which anonymous enums (and forward
declarations) some type refers to, the one fact about the whole BTF that
changes what is written (an anonymous enum nobody refers to is a top-level
``enum { ... };``).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable

from ...errors import BTFFormatError
from ...format.btf import BTF
from ...format.kinds import KINDS, field_values
from ...format.strings import StringTable
from .common import _ENUM, _ENUM64, _FUNC, _FUNC_PROTO, _FWD, _PASSING, _PTR, _SIZED


class TypeIndex:
    """The records of one BTF (with its bases) by type ID, and the facts read off them."""

    btf: BTF
    words: array[int]  # every record's words: words[woff[tid]] is tid's name offset
    woff: list[int]
    kind: bytearray
    vmask: int  # the vlen bits of an info word
    n: int  # type IDs 0..n-1
    name: Callable[[int], str]  # string offset -> string
    ptr_sz: int
    candidates: set[int]  # anonymous enums and forward declarations
    referenced: set[int]  # ... that some type refers to

    def _index_records(
        self, btf: BTF, base: TypeIndex | None, referenced: set[int] | None
    ) -> tuple[list[int], list[int], list[int]]:
        """Index every type of ``btf`` (and its bases) by ID.

        With ``base`` (an index over ``btf.base``), its facts are carried over and
        only ``btf``'s own types are indexed.  ``referenced``, if known, is what
        :func:`_referenced` finds in ``btf``'s own types.  Returns the IDs of
        pointers, modifiers and arrays; of pointers; and of the kinds whose record
        holds their size.
        """
        self.btf = btf
        parts = [btf] if base is not None else btf.chain
        if base is None:
            self.words = array("I")
            self.woff = [0]
            self.kind = bytearray(1)
            self.candidates = set()
            self.referenced = set()
        else:
            self.words = base.words + btf.words
            self.woff = base.woff.copy()
            self.kind = base.kind.copy()
            self.candidates = base.candidates.copy()
            self.referenced = base.referenced.copy()
        # Records are read in place: ``words[woff[tid]]`` is the name offset,
        # ``+ 1`` the info word, ``+ 2`` the size or type.
        words = self.words
        fmt = btf.info_format
        self.vmask = fmt.vlen_mask
        kind = self.kind
        passing: list[int] = []  # pointers, modifiers and arrays
        pointers: list[int] = []
        sized: list[int] = []  # kinds whose record holds their size
        for part in parts:
            shift = len(words) - len(part.words) if base is not None else len(words)
            if base is None:
                words.extend(part.words)
            offsets = [o + shift for o in part.offsets] if shift else part.offsets
            self.woff.extend(offsets)
            groups = part.ids_by_kind()
            # The largest group (FUNC, in vmlinux) is filled in at C speed; the others
            # by plain loops (cheaper than map over bytearray.__setitem__).
            common = max(range(len(groups)), key=lambda k: len(groups[k]))
            kind.extend(bytes((common,)) * len(offsets))
            for k, ids in enumerate(groups):
                if ids:
                    if k != common:
                        for tid in ids:
                            kind[tid] = k
                    if k in _PASSING:
                        passing += ids
                    if k == _PTR:
                        pointers += ids
                    elif k in _SIZED:
                        sized += ids
            self.candidates |= _anonymous_enums(part)
            if referenced is not None and part is btf:
                self.referenced |= referenced
            else:
                self.referenced |= _referenced(part, self.candidates)
        if base is None:
            self.woff[0] = len(words)  # void reads as an all-zero record
            words.frombytes(bytes(12))
        self.n = btf.type_count
        for k in set(self.kind):
            if k and k not in KINDS:
                raise BTFFormatError(f"cannot write kind {k} as C", type_id=self.kind.index(k))
        self.name = _namer(btf.strings, base.name if base is not None else None)
        self.ptr_sz = btf.pointer_size or 8
        return passing, pointers, sized

    def carries_over(self, btf: BTF) -> bool:
        """Whether this dump of ``btf.base`` can continue into split ``btf`` unchanged.

        It cannot when the split's types refer to an anonymous base enum that the
        base alone left unreferenced (that enum is then no longer a top-level
        ``enum { ... };``), or when the pointer size differs.
        """
        if btf.base is not self.btf or (btf.pointer_size or 8) != self.ptr_sz:
            return False
        return not _referenced(btf, self.candidates - self.referenced)


def _anonymous_enums(btf: BTF) -> set[int]:
    """IDs of ``btf``'s own anonymous ENUM, ENUM64 and FWD types."""
    groups, ids, words = btf.records_by_kind(), btf.ids_by_kind(), btf.words
    return {
        tid
        for k in (_ENUM, _ENUM64, _FWD)
        if k < len(groups)
        for w, tid in zip(groups[k], ids[k], strict=True)
        if not words[w]
    }


def _referenced(btf: BTF, candidates: set[int]) -> set[int]:
    """Those of ``candidates`` that ``btf``'s own types refer to.

    A FUNC_PROTO's return type does not count, as in libbpf.  Only anonymous
    enums care: one nobody refers to is a top-level ``enum { ... };``.
    """
    found: set[int] = set()
    if candidates:
        words, vmask, data = btf.words, btf.info_format.vlen_mask, btf.words.tobytes()
        for kind, group in enumerate(btf.records_by_kind()):
            if group:
                refs, _strs = field_values(words, group, btf.spec(kind), vmask, data=data)
                _note_referenced(kind, refs, candidates, found)
    return found


def _note_referenced(kind: int, refs: list[Iterable[int]], candidates: set[int], found: set[int]) -> None:
    """Add to ``found`` those of ``candidates`` that ``refs`` (one kind's type-ID columns, as
    :func:`field_values` gives them) refer to, as :func:`_referenced` counts."""
    spec = KINDS.get(kind)
    if spec is None or kind == _FUNC:  # a FUNC's type is a FUNC_PROTO, never a candidate
        return
    # The type word (the first column) counts unless it is a FUNC_PROTO's return type.
    skip_first = (spec.type_ref or spec.iter_ref) and not (spec.type_ref and kind != _FUNC_PROTO)
    for i in range(1 if skip_first else 0, len(refs)):
        column = refs[i]
        if not isinstance(column, tuple):
            refs[i] = column = list(column)  # read here and, in a check, again
        found.update(candidates.intersection(column))


def _check_references(btf: BTF) -> set[int] | None:
    """``btf.check_references()``, and for BTF without a base what :func:`_referenced`
    finds in it, read off the columns the check gathers anyway (None when not known:
    split BTF, or the check had already run)."""
    if btf.base is not None:
        btf.check_references()
        return None
    candidates = _anonymous_enums(btf)
    found: set[int] = set()
    checked: list[int] = []

    def seen(kind: int, refs: list[Iterable[int]], _strs: list[Iterable[int]]) -> None:
        checked.append(kind)
        if candidates:
            _note_referenced(kind, refs, candidates, found)

    btf.check_references(seen=seen)
    return found if checked else None


def _namer(
    strings: StringTable, lower: Callable[[int], str] | None = None
) -> Callable[[int], str]:
    """A fast ``strings.get``.

    Strings are sliced out of one decoded copy of the section when first asked
    for and then kept: cheaper than mapping every string up front.  Sections that are not plain ASCII
    (or do not end in NUL) are left to ``StringTable.get``.  ``lower`` reads
    the base's offsets.
    """
    data = bytes(strings.data)
    if not data.isascii() or not data.endswith(b"\0"):
        return strings.get
    if lower is None:
        lower = _namer(strings.base) if strings.base is not None else strings.get
    text = data.decode("ascii")
    start = strings.start
    seen: dict[int, str] = {}
    find, get = text.find, seen.get

    def name(off: int) -> str:
        got = get(off)
        if got is None:
            i = off - start
            got = seen[off] = lower(off) if i < 0 else text[i : find("\0", i)]
        return got

    return name
