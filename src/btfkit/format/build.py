"""Building BTF through an API: one call per kind, strings deduplicated as they are added.

:class:`Builder` appends to a :class:`~btfkit.format.btf.BTF` (a new one, a split one
on top of a base, or an existing one) and returns the new type IDs.  Records
are encoded exactly as libbpf's ``btf__add_*`` functions encode them, so the
same sequence of calls gives the same bytes.  Types with elements can take
them all at once (``members=...``) or one call at a time after the type, as
libbpf does (``add_member`` appends to the last type).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ..errors import BuildError
from ..format.btf import BTF, ByteOrder
from ..format.kinds import INFO, IntEncoding, Kind, Linkage, make_info

_ID_LIMIT = 0x7FFFFFFF


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise BuildError(f"{what} {value} does not fit in 32 bits")
    return value


class Builder:
    """Adds types to ``btf`` (by default a new, empty BTF on top of ``base``)."""

    def __init__(
        self, btf: BTF | None = None, *, base: BTF | None = None, byteorder: ByteOrder | None = None
    ):
        self.btf = btf if btf is not None else BTF(base, byteorder=byteorder)

    # --- helpers -------------------------------------------------------------------
    def add_str(self, text: str) -> int:
        """The offset of ``text`` in the string table, added if new (base strings are reused)."""
        return self.btf.strings.add(text) if text else 0

    def _ref(self, type_id: int) -> int:
        if not 0 <= type_id <= _ID_LIMIT:
            raise BuildError(f"type ID {type_id} out of range")
        return type_id

    def _named(self, name: str, what: str) -> int:
        if not name:
            raise BuildError(f"{what} needs a name")
        return self.add_str(name)

    def _add(self, name_off: int, kind: Kind, size_or_type: int, *extra: int,
             vlen: int = 0, kind_flag: bool = False) -> int:  # fmt: skip
        return self.btf.append_record([name_off, make_info(kind, vlen, kind_flag), size_or_type, *extra])

    def _last(self, *kinds: Kind) -> tuple[int, int]:
        """The last type's ID and first word, checking that it is of one of ``kinds``."""
        btf = self.btf
        if not len(btf):
            raise BuildError(f"no {'/'.join(k.name for k in kinds)} to add to")
        w = btf.offsets[-1]
        kind = btf.info_format.kind(btf.words[w + INFO])
        if kind not in kinds:
            raise BuildError(f"the last type is a {Kind(kind).name}, not a {'/'.join(k.name for k in kinds)}")
        return btf.type_count - 1, w

    def _append_elem(self, w: int, *elem: int, kind_flag: bool = False) -> None:
        if self.btf.info_format.vlen(self.btf.words[w + INFO]) >= self.btf.info_format.vlen_mask:
            raise BuildError("too many elements for one type")
        self.btf.append_element(w, elem, kind_flag=kind_flag)

    # --- one call per kind ---------------------------------------------------------
    def add_int(self, name: str, size: int, encoding: IntEncoding = IntEncoding.NONE) -> int:
        """INT of ``size`` bytes (1, 2, 4, 8 or 16) using all its bits."""
        if size not in (1, 2, 4, 8, 16):
            raise BuildError(f"INT size {size} is not 1, 2, 4, 8 or 16")
        if int(encoding) & ~7:
            raise BuildError(f"invalid INT encoding {int(encoding):#x}")
        return self._add(self._named(name, "INT"), Kind.INT, size, (int(encoding) << 24) | (size * 8))

    def add_float(self, name: str, size: int) -> int:
        """FLOAT of ``size`` bytes (2, 4, 8, 12 or 16)."""
        if size not in (2, 4, 8, 12, 16):
            raise BuildError(f"FLOAT size {size} is not 2, 4, 8, 12 or 16")
        return self._add(self._named(name, "FLOAT"), Kind.FLOAT, size)

    def add_ptr(self, type_id: int) -> int:
        """PTR to ``type_id``."""
        return self._add(0, Kind.PTR, self._ref(type_id))

    def add_array(self, elem_type: int, index_type: int, nelems: int) -> int:
        """ARRAY of ``nelems`` ``elem_type`` indexed by ``index_type``."""
        return self._add(0, Kind.ARRAY, 0, self._ref(elem_type), self._ref(index_type),
                         _u32(nelems, "array length"))  # fmt: skip

    def _add_composite(self, kind: Kind, name: str, size: int,
                       members: Iterable[tuple[str, int, int] | tuple[str, int, int, int]]) -> int:  # fmt: skip
        tid = self._add(self.add_str(name), kind, _u32(size, "size"))
        for m in members:
            self.add_member(*m)
        return tid

    def add_struct(self, name: str, size: int,
                   members: Iterable[tuple[str, int, int] | tuple[str, int, int, int]] = ()) -> int:  # fmt: skip
        """STRUCT ``name`` (``""`` for anonymous) with (name, type, bit offset[, bitfield size]) members."""
        return self._add_composite(Kind.STRUCT, name, size, members)

    def add_union(self, name: str, size: int,
                  members: Iterable[tuple[str, int, int] | tuple[str, int, int, int]] = ()) -> int:  # fmt: skip
        """UNION ``name`` with members, as :meth:`add_struct`."""
        return self._add_composite(Kind.UNION, name, size, members)

    def add_member(self, name: str, type_id: int, bit_offset: int = 0, bitfield_size: int = 0) -> int:
        """Add a member to the last STRUCT/UNION; a bitfield switches the type to kind_flag=1."""
        _tid, w = self._last(Kind.STRUCT, Kind.UNION)
        is_bitfield = bitfield_size != 0 or bit_offset % 8 != 0
        if is_bitfield and not (1 <= bitfield_size <= 255 and bit_offset <= 0xFFFFFF):
            raise BuildError(f"bitfield {name!r}: size {bitfield_size} or offset {bit_offset} invalid")
        if not 0 <= bit_offset <= 0xFFFFFFFF:  # only a bitfield's offset is limited to 24 bits
            raise BuildError(f"member {name!r}: bit offset {bit_offset} out of range")
        if self.btf.info_format.kind(self.btf.words[w + INFO]) == Kind.UNION and bit_offset:
            raise BuildError(f"union member {name!r} must be at offset 0")
        self._append_elem(w, self.add_str(name), self._ref(type_id), bit_offset | (bitfield_size << 24),
                          kind_flag=is_bitfield)  # fmt: skip
        return 0

    def add_enum(self, name: str, size: int = 4, values: Iterable[tuple[str, int]] = ()) -> int:
        """ENUM of ``size`` bytes (1, 2, 4 or 8); a negative value marks it signed."""
        if size not in (1, 2, 4, 8):
            raise BuildError(f"ENUM size {size} is not 1, 2, 4 or 8")
        tid = self._add(self.add_str(name), Kind.ENUM, size)
        for value_name, value in values:
            self.add_enum_value(value_name, value)
        return tid

    def add_enum_value(self, name: str, value: int) -> int:
        """Add an enumerator (in ``[-2**31, 2**32)``) to the last ENUM."""
        _tid, w = self._last(Kind.ENUM)
        if not -(1 << 31) <= value < (1 << 32):
            raise BuildError(f"enumerator {name!r} value {value} does not fit in 32 bits")
        self._append_elem(w, self._named(name, "enumerator"), value & 0xFFFFFFFF, kind_flag=value < 0)
        return 0

    def add_enum64(self, name: str, size: int = 8, values: Iterable[tuple[str, int]] = (),
                   signed: bool = False) -> int:  # fmt: skip
        """ENUM64 of ``size`` bytes; ``signed`` sets the kind_flag."""
        if size not in (1, 2, 4, 8):
            raise BuildError(f"ENUM64 size {size} is not 1, 2, 4 or 8")
        tid = self._add(self.add_str(name), Kind.ENUM64, size, kind_flag=signed)
        for value_name, value in values:
            self.add_enum64_value(value_name, value)
        return tid

    def add_enum64_value(self, name: str, value: int) -> int:
        """Add an enumerator (in ``[-2**63, 2**64)``) to the last ENUM64."""
        _tid, w = self._last(Kind.ENUM64)
        if not -(1 << 63) <= value < (1 << 64):
            raise BuildError(f"enumerator {name!r} value {value} does not fit in 64 bits")
        value &= (1 << 64) - 1
        self._append_elem(w, self._named(name, "enumerator"), value & 0xFFFFFFFF, value >> 32)
        return 0

    def add_fwd(self, name: str, kind: Literal["struct", "union", "enum"] = "struct") -> int:
        """Forward declaration; an enum one is an ENUM with no values, as libbpf makes it."""
        if kind == "enum":
            return self._add(self._named(name, "FWD"), Kind.ENUM, 4)
        if kind not in ("struct", "union"):
            raise BuildError(f"FWD kind {kind!r} is not struct, union or enum")
        return self._add(self._named(name, "FWD"), Kind.FWD, 0, kind_flag=kind == "union")

    def add_typedef(self, name: str, type_id: int) -> int:
        """TYPEDEF ``name`` for ``type_id``."""
        return self._add(self._named(name, "TYPEDEF"), Kind.TYPEDEF, self._ref(type_id))

    def add_volatile(self, type_id: int) -> int:
        """VOLATILE ``type_id``."""
        return self._add(0, Kind.VOLATILE, self._ref(type_id))

    def add_const(self, type_id: int) -> int:
        """CONST ``type_id``."""
        return self._add(0, Kind.CONST, self._ref(type_id))

    def add_restrict(self, type_id: int) -> int:
        """RESTRICT ``type_id``."""
        return self._add(0, Kind.RESTRICT, self._ref(type_id))

    def add_type_tag(self, value: str, type_id: int, attribute: bool = False) -> int:
        """TYPE_TAG ``value`` on ``type_id``; ``attribute`` marks an arbitrary ``__attribute__``."""
        return self._add(self._named(value, "TYPE_TAG"), Kind.TYPE_TAG, self._ref(type_id),
                         kind_flag=attribute)  # fmt: skip

    def add_func(self, name: str, proto: int, linkage: Linkage = Linkage.STATIC) -> int:
        """FUNC ``name`` of prototype ``proto``; the linkage is kept in vlen."""
        if linkage not in (Linkage.STATIC, Linkage.GLOBAL, Linkage.EXTERN):
            raise BuildError(f"invalid FUNC linkage {linkage}")
        return self._add(self._named(name, "FUNC"), Kind.FUNC, self._ref(proto), vlen=int(linkage))

    def add_func_proto(self, ret_type: int, params: Iterable[tuple[str, int]] = ()) -> int:
        """FUNC_PROTO returning ``ret_type`` with (name, type) parameters."""
        tid = self._add(0, Kind.FUNC_PROTO, self._ref(ret_type))
        for param_name, param_type in params:
            self.add_param(param_name, param_type)
        return tid

    def add_param(self, name: str, type_id: int) -> int:
        """Add a parameter to the last FUNC_PROTO (type 0, unnamed, stands for ``...``)."""
        _tid, w = self._last(Kind.FUNC_PROTO)
        self._append_elem(w, self.add_str(name), self._ref(type_id))
        return 0

    def add_var(self, name: str, type_id: int, linkage: Linkage = Linkage.STATIC) -> int:
        """VAR ``name`` of ``type_id``."""
        if linkage not in (Linkage.STATIC, Linkage.GLOBAL, Linkage.EXTERN):
            raise BuildError(f"invalid VAR linkage {linkage}")
        return self._add(self._named(name, "VAR"), Kind.VAR, self._ref(type_id), int(linkage))

    def add_datasec(self, name: str, size: int, vars: Iterable[tuple[int, int, int]] = ()) -> int:
        """DATASEC ``name`` of ``size`` bytes with (var, offset, size) entries."""
        tid = self._add(self._named(name, "DATASEC"), Kind.DATASEC, _u32(size, "size"))
        for var in vars:
            self.add_datasec_var(*var)
        return tid

    def add_datasec_var(self, type_id: int, offset: int, size: int) -> int:
        """Add an entry to the last DATASEC."""
        _tid, w = self._last(Kind.DATASEC)
        self._append_elem(w, self._ref(type_id), _u32(offset, "offset"), _u32(size, "size"))
        return 0

    def add_decl_tag(self, value: str, type_id: int, component_idx: int = -1,
                     attribute: bool = False) -> int:  # fmt: skip
        """DECL_TAG ``value`` on ``type_id`` (member/param ``component_idx``, -1 for the type)."""
        if component_idx < -1:
            raise BuildError(f"DECL_TAG component index {component_idx} < -1")
        return self._add(self._named(value, "DECL_TAG"), Kind.DECL_TAG, self._ref(type_id),
                         component_idx & 0xFFFFFFFF, kind_flag=attribute)  # fmt: skip

    # --- copying ------------------------------------------------------------------------
    def _copy(self, src: BTF, type_id: int, shift: int, strs: dict[int, int]) -> int:
        src.check_references()
        owner, w = src.locate(type_id)
        words = owner.words
        n = owner.record_words(words[w + INFO])
        record = words[w : w + n]
        for p in owner.str_positions(record, 0):
            off = record[p]
            if off:
                if off not in strs:
                    strs[off] = self.add_str(owner.strings.get(off))
                record[p] = strs[off]
        if shift:
            for p in owner.ref_positions(record, 0):
                if record[p] >= src.start_id:
                    record[p] += shift
        return self.btf.append_record(record)

    def add_type(self, src: BTF, type_id: int) -> int:
        """Copy one type of ``src`` verbatim (type IDs unchanged), re-adding its strings."""
        return self._copy(src, type_id, 0, {})

    def add_btf(self, src: BTF) -> int:
        """Append all of ``src``'s own types, shifting its IDs to follow ours; return the first new ID.

        ``src`` must be standalone, or split on the same base as this BTF (then IDs
        and strings of the shared base are kept as they are).
        """
        if src.base is not None and src.base is not self.btf.base:
            raise BuildError("cannot add a split BTF that is not split on this BTF's base")
        first = self.btf.type_count
        shift = first - src.start_id
        strs: dict[int, int] = {}
        for tid in range(src.start_id, src.type_count):
            self._copy(src, tid, shift, strs)
        return first

