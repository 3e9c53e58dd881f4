"""Constants the parts of the C dump share: kind numbers, kind classes, limits, special names."""

from __future__ import annotations

from ...format.kinds import ELEMS, KINDS, MEMBER_TYPE, PARAM_TYPE, PARAM_WORDS, TYPE, Kind
from ...format.layout import SIZED

_INT = Kind.INT.value
_PTR = Kind.PTR.value
_ARRAY = Kind.ARRAY.value
_STRUCT = Kind.STRUCT.value
_UNION = Kind.UNION.value
_ENUM = Kind.ENUM.value
_FWD = Kind.FWD.value
_TYPEDEF = Kind.TYPEDEF.value
_VOLATILE = Kind.VOLATILE.value
_CONST = Kind.CONST.value
_RESTRICT = Kind.RESTRICT.value
_FUNC = Kind.FUNC.value
_FUNC_PROTO = Kind.FUNC_PROTO.value
_VAR = Kind.VAR.value
_DATASEC = Kind.DATASEC.value
_FLOAT = Kind.FLOAT.value
_DECL_TAG = Kind.DECL_TAG.value
_TYPE_TAG = Kind.TYPE_TAG.value
_ENUM64 = Kind.ENUM64.value

_COMPOSITE = frozenset({_STRUCT, _UNION})
_ENUMS = frozenset({_ENUM, _ENUM64})
_MODS = frozenset({_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})
_PASSING = _MODS | {_PTR, _ARRAY}  # kinds an emitting visit passes through
# Kinds a declaration chain passes through (the others end it).
_CHAIN_NEXT = frozenset({_PTR, _VOLATILE, _CONST, _RESTRICT, _FUNC_PROTO, _TYPE_TAG})
_SIZED = SIZED  # kinds whose record holds their size (the layout rules' own set)
# Kinds that, as roots, only get marked ordered: they define nothing.
_NOTHING_TO_ORDER = frozenset({_INT, _FLOAT, _FUNC, _VAR, _DATASEC, _DECL_TAG})

# Record layout, from the kind table.  Loops here unpack members, parameters and
# enumerators field by field in this order, and read a FUNC_PROTO's return type and
# parameter types as one stride (the return type sits one parameter before the first
# parameter's type).
assert KINDS[Kind.STRUCT].elem_fields == KINDS[Kind.UNION].elem_fields == ("name_off", "type", "offset")
assert KINDS[Kind.FUNC_PROTO].elem_fields == ("name_off", "type")
assert KINDS[Kind.ENUM].elem_fields == ("name_off", "val")
assert KINDS[Kind.ENUM64].elem_fields == ("name_off", "val_lo32", "val_hi32")
_MEMBER_TYPES = ELEMS + MEMBER_TYPE  # the first member's type
_PARAM_TYPES = ELEMS + PARAM_TYPE  # the first parameter's type
assert _PARAM_TYPES - TYPE == PARAM_WORDS

_MAX_CHAIN = 4096  # a declaration chain longer than this can only be a cycle
_PFX = ["\t" * i for i in range(14)]  # libbpf caps indentation at 13 tabs

# GCC's ARM SIMD typedefs name internal types; libbpf declares them as aliases.
_MISSING_ALIASES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}
