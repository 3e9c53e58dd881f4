"""Limits, name rules and per-kind facts the verifier's rule families share."""

from __future__ import annotations

import re
from array import array
from typing import Final

from ...format.kinds import (
    KINDS,
    Kind,
    Role,
)

#: The largest blob ``BPF_BTF_LOAD`` takes.
MAX_LOAD_SIZE: Final = 16 * 1024 * 1024
_MAX_RESOLVE_DEPTH: Final = 32
_KSYM_NAME_LEN: Final = 512  # the longest name the kernel takes
_INFO_MASK: Final = 0x9F00FFFF  # vlen, a 5-bit kind and kind_flag; all else must be 0
_INT_MASK: Final = 0x0FFFFFFF
_U32: Final = 0xFFFFFFFF
_POINTER_SIZE: Final = 8  # the verifier's sizeof(void *) on a 64-bit kernel

# The kernel's ctype table treats Latin-1 letters (0xc0-0xff but for 0xd7 and
# 0xf7) as letters and everything from 0xa0 up as printable; a name is checked
# byte by byte against it.
_ALPHA = rb"A-Za-z\xc0-\xd6\xd8-\xf6\xf8-\xff"
_IDENT = re.compile(rb"[%s_.][%s0-9_.]{0,%d}\Z" % (_ALPHA, _ALPHA, _KSYM_NAME_LEN - 1))
_SECTION = re.compile(rb"[\x20-\x7e\xa0-\xff]{1,%d}\Z" % _KSYM_NAME_LEN)

# Per-kind facts as tuples indexed by kind number (0 stands for void).
_NKINDS = max(KINDS) + 1
_ROLE = tuple(KINDS[k].role if k in KINDS else Role.SINK for k in range(_NKINDS))
_SIZED = tuple(k in KINDS and KINDS[k].sized for k in range(_NKINDS))
_SIZELESS = tuple(k == 0 or KINDS[k].sizeless for k in range(_NKINDS))
_MOD = tuple(r == Role.MODIFIER for r in _ROLE)
_NEEDS = tuple(r != Role.SINK for r in _ROLE)
_SOURCE_ONLY = tuple(r in (Role.VAR, Role.DECL_TAG, Role.DATASEC) for r in _ROLE)
_DECL_TAG_TARGETS = frozenset({Kind.FUNC, Kind.STRUCT, Kind.UNION, Kind.VAR, Kind.TYPEDEF})
_POINTEE_WITHOUT_SIZE = frozenset({0, Kind.FWD, Kind.FUNC_PROTO})  # void, forward, function

# Resolve modes: how far the walk started from the root type must go.
_TBD, _PTR, _SOA = 0, 1, 2  # undecided, from a pointer, from a struct or an array
_NOT_VISITED, _VISITED, _RESOLVED = 0, 1, 2
_UNKNOWN: Final = object()


class _Resolved:
    """What resolving one BTF (and its bases) leaves behind, indexed by type ID."""

    __slots__ = ("kinds", "rids", "rsizes")

    def __init__(self, kinds: bytearray, rids: array[int], rsizes: array[int]):
        self.kinds = kinds  # kind of every ID, 0 for void
        self.rids = rids  # the sized type each ID resolves to
        self.rsizes = rsizes  # resolved byte size (arrays)
