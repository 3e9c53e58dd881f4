"""The state of one verifier run and the access, reporting and name rules every pass uses."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from itertools import accumulate
from typing import NoReturn

from ...errors import BTFValidationError
from ...format.btf import BTF
from ...format.kinds import (
    MAX_NAME_OFFSET,
    SIZE,
    Names,
    Role,
)
from .common import (
    _IDENT,
    _SECTION,
    _TBD,
    _UNKNOWN,
)


class _State:
    """One run of the verifier over the own types of one BTF: what every rule family reads."""

    def __init__(self, btf: BTF):
        self.btf = btf
        self.words = btf.words
        self.offs = btf.offsets
        self.start = btf.start_id
        self.count = btf.type_count
        self.hdr = btf.header_len
        self.str_end = btf.strings.end
        self.mode = _TBD
        self.stack: list[list[int]] = []  # [type ID, next member to check]
        self._root = 0  # the type the current walk started from
        # Filled by run(), indexed by type ID over the whole chain:
        self.kinds = bytearray()
        self.rids = array("I")
        self.rsizes = array("I")
        self.visit = bytearray()
        self._ident: dict[int, object] = {}  # offset -> match (or None) of _IDENT
        self._meta: dict[int, Callable[[int, int, int, int, int], None]] = {}  # per kind (pass 1)
        self._resolvers: dict[Role, Callable[[list[int]], None]] = {}  # per role (pass 2)

    # --- reporting and access ---------------------------------------------------------
    def fail(self, type_id: int, message: str, word: int | None = None) -> NoReturn:
        """Raise for ``type_id``; ``word`` is a word index into the own type section."""
        offset = None if word is None else self.hdr + 4 * word
        raise BTFValidationError(message, type_id=type_id, offset=offset)

    def rec(self, type_id: int) -> tuple[array[int], int]:
        """The words holding ``type_id``'s record and its first word."""
        if type_id >= self.start:
            return self.words, self.offs[type_id - self.start]
        owner, w = self.btf.locate(type_id)
        return owner.words, w

    def kind(self, type_id: int) -> int:
        """Kind of ``type_id``, 0 for void, -1 for an ID that does not exist."""
        return self.kinds[type_id] if type_id < self.count else -1

    def size_word(self, type_id: int) -> int:
        words, w = self.rec(type_id)
        return words[w + SIZE]

    def name_ok(self, rule: Names, off: int) -> bool:
        """Whether the string at ``off`` satisfies ``rule`` (the kernel's name checks)."""
        if rule == Names.IDENT or rule == Names.OPTIONAL:  # noqa: PLR1714 (hot path)
            if off == 0:
                return rule == Names.OPTIONAL
            found = self._ident.get(off, _UNKNOWN)
            if found is _UNKNOWN:
                found = self._ident[off] = _IDENT.match(self._raw(off))
            return found is not None
        if rule == Names.ANY:
            return True
        if rule == Names.NONE:
            return off == 0
        if off == 0:
            return False  # SECTION and TAG names are required
        if rule == Names.SECTION:
            return _SECTION.match(self._raw(off)) is not None
        return bool(self._raw(off))  # TAG: any non-empty string

    def _index_identifiers(self) -> None:
        """Check every own string that starts at a NUL boundary in one go (the usual case)."""
        strings = self.btf.strings
        pieces = bytes(strings.data).split(b"\0")
        starts = accumulate(map((1).__add__, map(len, pieces)), initial=strings.start)
        self._ident = dict(zip(starts, map(_IDENT.match, pieces), strict=False))

    def _raw(self, off: int) -> bytes:
        return self.btf.strings.get(off).encode("utf-8", "surrogateescape")

    def _check_strings(self) -> None:
        data = self.btf.strings.data
        if self.btf.base is None and (not data or data[0]):
            raise BTFValidationError("the string section does not start with NUL")
        if data and data[-1]:
            raise BTFValidationError("the string section does not end with NUL")
        if len(data) - 1 > MAX_NAME_OFFSET:
            raise BTFValidationError(f"string section of {len(data)} bytes is larger than 16 MiB")
