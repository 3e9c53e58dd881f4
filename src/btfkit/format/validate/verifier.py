"""The verifier assembled from its rule families, and the cache of validated bases."""

from __future__ import annotations

import weakref
from array import array

from ...errors import BTFValidationError
from ...format.btf import BTF
from ...format.kinds import (
    MAX_TYPE_ID,
    Kind,
    Role,
)
from .common import (
    _RESOLVED,
    _Resolved,
)
from .members import _Members
from .records import _Records
from .tags import _TypeTags


class _Verifier(_Records, _Members, _TypeTags):
    """One run of the verifier: every rule family, in the kernel's order."""

    def __init__(self, btf: BTF):
        super().__init__(btf)
        self._meta = {
            Kind.INT: self._meta_int,
            Kind.ARRAY: self._meta_array,
            Kind.STRUCT: self._meta_members,
            Kind.UNION: self._meta_members,
            Kind.ENUM: self._meta_enum,
            Kind.ENUM64: self._meta_enum,
            Kind.VAR: self._meta_var,
            Kind.DATASEC: self._meta_datasec,
            Kind.DECL_TAG: self._meta_decl_tag,
        }
        self._resolvers = {
            Role.MODIFIER: self._resolve_modifier,
            Role.PTR: self._resolve_ptr,
            Role.ARRAY: self._resolve_array,
            Role.STRUCT: self._resolve_struct,
            Role.VAR: self._resolve_var,
            Role.FUNC: self._resolve_func,
            Role.DECL_TAG: self._resolve_decl_tag,
            Role.DATASEC: self._resolve_datasec,
        }

    def run(self) -> _Resolved:
        btf = self.btf
        if btf.layout is not None:
            raise BTFValidationError("kind-layout section (32-byte header): unknown to the kernel")
        self._check_strings()
        self._index_identifiers()
        if not len(btf) and btf.base is None:
            raise BTFValidationError("no types (the kernel needs at least one)")
        if self.count - 1 > MAX_TYPE_ID:
            raise BTFValidationError(
                f"{self.count - 1} types: more than the kernel's {MAX_TYPE_ID}"
            )
        self._meta_pass()
        base = _resolved_base(btf.base) if btf.base is not None else None
        n = self.count
        if base is None:
            self.rids = array("I", bytes(4 * n))
            self.rsizes = array("I", bytes(4 * n))
            self.visit = bytearray(n)  # void (0) counts as not visited, as in the kernel
        else:
            self.kinds[: self.start] = base.kinds
            self.rids = base.rids[: self.start] + array("I", bytes(4 * len(btf)))
            self.rsizes = base.rsizes[: self.start] + array("I", bytes(4 * len(btf)))
            self.visit = bytearray([_RESOLVED]) * self.start + bytearray(len(btf))
        self._resolve_pass()
        self._check_type_tags()
        return _Resolved(self.kinds, self.rids, self.rsizes)



# Validated bases, so that checking many modules resolves vmlinux once.
_CACHE: weakref.WeakKeyDictionary[BTF, tuple[int, _Resolved]] = weakref.WeakKeyDictionary()


def _resolved_base(base: BTF) -> _Resolved:
    hit = _CACHE.get(base)
    if hit is not None and hit[0] == len(base.words):
        return hit[1]
    try:
        state = _Verifier(base).run()
    except BTFValidationError as exc:
        raise BTFValidationError(f"base BTF: {exc}") from exc
    _CACHE[base] = (len(base.words), state)
    return state
