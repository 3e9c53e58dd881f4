"""Constants the passes of dedup share: kind numbers and classes, map states, record layout."""

from __future__ import annotations

from collections.abc import Iterable

from ...format.kinds import (
    ELEMS,
    INT_ENCODING,
    MEMBER_NAME,
    MEMBER_OFFSET,
    MEMBER_TYPE,
    PARAM_NAME,
    PARAM_TYPE,
    PARAM_WORDS,
    TYPE,
    Kind,
)

_MAX_ID = 0x7FFFFFFF
_UNPROCESSED = 0xFFFFFFFF
_IN_PROGRESS = 0xFFFFFFFE

# Kind numbers as plain ints: comparing with IntEnum members costs more in the hot loops.
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT = (
    int(k) for k in (Kind.INT, Kind.PTR, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD,
                     Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT)
)  # fmt: skip
_FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = (
    int(k) for k in (Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DATASEC, Kind.FLOAT, Kind.DECL_TAG,
                     Kind.TYPE_TAG, Kind.ENUM64)
)  # fmt: skip

#: Kinds the ref pass handles; their candidate key is the whole record, references resolved.
_REFS = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG, _DECL_TAG,
                   _ARRAY, _FUNC_PROTO})  # fmt: skip
#: Kinds the prim pass handles, and the struct pass.
_PRIMS = frozenset({_INT, _FWD, _FLOAT, _ENUM, _ENUM64})
_STRUCTS = frozenset({_STRUCT, _UNION})
_FWD_OR_STRUCTS = frozenset({_FWD, _STRUCT, _UNION})
#: Ref-pass kinds with one reference, in the third word.
_REF1 = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG, _DECL_TAG})
#: Kinds is_equiv follows through their third word (DECL_TAG is not among them).
_EQUIV_REF = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG})
#: Kinds is_equiv can compare (others are invalid input there; void never gets that far).
_IN_GRAPHS = frozenset({_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST,
                        _RESTRICT, _FUNC, _FUNC_PROTO, _FLOAT, _TYPE_TAG, _ENUM64})  # fmt: skip
#: String field values per kind number, as check_references gathers them.
StrValues = dict[int, list[Iterable[int]]]

# Record layout, from the kind table: where the first member's or parameter's fields
# are (then every MEMBER_WORDS / PARAM_WORDS words), and where an INT's fixed part ends.
_MEMBER_NAMES = ELEMS + MEMBER_NAME
_MEMBER_TYPES = ELEMS + MEMBER_TYPE
_MEMBER_OFFSETS = ELEMS + MEMBER_OFFSET
_PARAM_NAMES = ELEMS + PARAM_NAME
_PARAM_TYPES = ELEMS + PARAM_TYPE
_INT_END = INT_ENCODING + 1  # name, info, size, encoding
# The walks push a FUNC_PROTO's parameter types and its return type as one stride.
assert _PARAM_TYPES - TYPE == PARAM_WORDS

#: Guard for the by-value identical-struct check (real kernels nest ~10 deep).
_MAX_NESTING = 200
