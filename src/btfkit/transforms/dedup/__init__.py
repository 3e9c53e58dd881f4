"""Type deduplication, producing the same bytes as libbpf 1.1's ``btf__dedup``.

Deduplication replaces every set of equivalent types by one canonical type and
renumbers the rest.  For split BTF the base is immutable: a split type equal to
a base type disappears and references to it point into the base.

The passes, named as in libbpf so its source can be read alongside:

``prep``
    (split only) every base type is canonical and goes into the candidate
    table first.  :class:`BaseIndex` does this once per base, so a whole tree
    of modules shares one indexed vmlinux.
``strings``
    own strings are rebuilt in first-reference order; strings the base already
    has become base offsets.  Skipped when the strings are known to be unique
    already (BTF built through the API, or deduplicated before), as libbpf does.
``prim``
    INT, FLOAT, FWD, ENUM and ENUM64.  A forward-declared enum (no values)
    merges with the first compatible full enum; a full enum also re-points an
    earlier canonical enum forward at itself.
``struct``
    STRUCT and UNION, by a side-by-side walk of the candidate's type graph and
    a canonical one (:meth:`.structs._Structs.is_equiv`) that records a hypothetical
    canon-to-candidate mapping; a FWD may stand for a STRUCT/UNION of its name.
    A successful walk also resolves forwards and pre-maps structs met on the way.
``resolve_fwds``
    a FWD still standing alone resolves to the only canonical STRUCT/UNION of
    its name, if exactly one exists (base types included).
``ref``
    PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO, ARRAY, DECL_TAG and TYPE_TAG,
    depth first, once everything they point to is canonical.
``compact`` and ``remap``
    canonical own types keep their relative order; every type ID is rewritten.

VAR and DATASEC are never merged.

**Candidate order.**  When several canonical types could match, the first one
libbpf's hash table yields wins, and that order is part of the output.  libbpf
keeps candidates in chains that get new entries at the head and are reversed
each time the table grows (at ``(size + 1) * 4 / 3 > capacity``, capacities 4,
8, 16, ...).  Every comparison filters the chain by an exact equivalence
(whole-record equality, or "same name, size, member names and offsets" for
structs, or "same name" for enums), and the hash is a function of exactly the
fields compared, so the candidates that survive the filter are the entries
with the same *equivalence key*, in chain order.  btfkit therefore files
candidates under that key instead of libbpf's 64-bit hash: colliding hashes
only ever add entries that the filter drops, and a grow reverses every chain,
so the relative order of one key's entries is the same either way.  Each entry
remembers the parity of grows at its insertion; see :class:`_Table`.  For the
same reason ``force_collisions`` (everything in one chain) cannot change the
result; it is accepted for API compatibility.

**Versions.**  The reference is libbpf 1.1.2 (Debian 12): TYPEDEF is
deduplicated in the ref pass, enums hash by name only, the identical-type
fallback is 1.1's nested arrays-and-structs check, and ``resolve_fwds`` exists.

**Where btfkit differs on purpose.**  Errors leave the BTF as it was (libbpf
leaves it half rewritten).  Input that would make libbpf recurse without end
(a struct containing itself by value, met by the identical-struct check) or
loop through reference types is a :class:`~btfkit.errors.DedupError`.
``.BTF.ext`` is not rewritten alongside (libbpf's ``btf_ext`` option).  The
walks are iterative, so deep graphs cannot exhaust a stack.  Base chains
(split on split) and the 24-bit-vlen format are handled, which libbpf 1.1
cannot parse.

Layout
------
One module per pass, each a mixin of the shared state (:mod:`.state`):
:mod:`.strings`, :mod:`.prims`, :mod:`.structs`, :mod:`.forwards`, :mod:`.refs`
and :mod:`.compact`; the candidate table and keys are in :mod:`.table`, the
prepared base in :mod:`.base`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ...errors import BTFError, DedupError
from ...format.btf import BTF
from ...format.kinds import (
    INFO,
    NAME_OFF,
)
from ...gcpause import paused_gc
from .base import BaseIndex
from .common import (
    _UNION,
    StrValues,
)
from .compact import _Compaction, _contains_itself
from .forwards import _Forwards
from .prims import _Prims
from .refs import _Refs
from .strings import _Strings
from .structs import _Structs

__all__ = ["PASSES", "BaseIndex", "dedup"]


class _Dedup(_Strings, _Prims, _Structs, _Forwards, _Refs, _Compaction):
    """One deduplication: the state and every pass."""


#: The passes of one deduplication, in order: what ``dedup(progress=...)`` is told as each ends.
PASSES = ("strings", "primitive types", "structs and unions", "forward declarations",
          "reference types", "compaction")


def dedup(
    btf: BTF,
    *,
    force_collisions: bool = False,
    index: BaseIndex | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Deduplicate ``btf`` in place, as libbpf 1.1's ``btf__dedup`` does.

    A split BTF is deduplicated against its base, which never changes; pass an
    ``index`` (a :class:`BaseIndex` of ``btf.base``) to reuse one prepared
    base for many split BTFs.  ``force_collisions`` is accepted for parity
    with libbpf's option; it cannot change the result (see the module
    docstring).  On error (:class:`~btfkit.errors.DedupError`) ``btf`` is left
    unchanged.  ``progress``, if given, is called with each pass's name (:data:`PASSES`) as
    the pass ends: a vmlinux takes a second or more.
    """
    del force_collisions
    done = progress or (lambda _name: None)
    # libbpf refuses dangling names and IDs when it opens BTF.  The check gathers
    # every string field anyway: the string pass reuses those columns, and checks
    # the offsets itself as it meets them.
    str_values: StrValues = {}

    def seen(kind: int, _refs: list[Iterable[int]], strs: list[Iterable[int]]) -> None:
        str_values[kind] = strs

    try:
        btf.check_references(seen=seen, strings=btf.strs_deduped)
    except BTFError:
        btf.check_references()  # the first bad field, strings included, as always
        raise
    if index is None:
        index = BaseIndex(btf.base if btf.base is not None else BTF())
    elif index.base is not btf.base:
        raise DedupError("the base index was built for a different base")
    if index.busy:
        raise DedupError("the base index is in use by another deduplication")
    index.busy = True
    d = _Dedup(btf, index)
    try:
        with paused_gc():
            strings = btf.strings if btf.strs_deduped else d.dedup_strings(str_values)
            done(PASSES[0])
            d.dedup_prims()
            done(PASSES[1])
            d.dedup_structs()
            done(PASSES[2])
            d.resolve_fwds()
            done(PASSES[3])
            d.dedup_refs()
            done(PASSES[4])
            words, offsets = d.compact_and_remap()
            done(PASSES[5])
    finally:
        d.release()
        index.busy = False
    looped = _contains_itself(words, offsets, btf.start_id, btf.info_format)
    if looped is not None:
        # libbpf 1.1 writes such BTF (the kernel then refuses it): refuse it here instead.
        w = offsets[looped - btf.start_id]
        name = strings.get(words[w + NAME_OFF]) or "(anonymous)"
        kind = "union" if (words[w + INFO] >> 24) & btf.info_format.kind_mask == _UNION else "struct"
        raise DedupError(
            f"{kind} {name} contains itself by value (through its members, arrays or typedefs): "
            "no C type can, and the kernel refuses such BTF"
        )
    btf.replace_types(words, offsets, strings, checked=True)  # every offset and ID was met on the way
    btf.strs_deduped = True
